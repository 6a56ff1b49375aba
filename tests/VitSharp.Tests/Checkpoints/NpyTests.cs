using VitSharp.Checkpoints;
using VitSharp.Tensors;

namespace VitSharp.Tests.Checkpoints;

public class NpyTests
{
    [Theory]
    [InlineData("v1_f4.npy", DType.F32)]
    [InlineData("v2_f4.npy", DType.F32)]
    [InlineData("v3_f4.npy", DType.F32)]
    [InlineData("be_f4.npy", DType.F32)]
    [InlineData("be_f8.npy", DType.F64)]
    [InlineData("fortran_f4.npy", DType.F32)]
    [InlineData("f2.npy", DType.F16)]
    [InlineData("f8.npy", DType.F64)]
    [InlineData("odd_header.npy", DType.F32)]
    public void Every_npy_variant_reads_the_same_values(string file, DType dtype)
    {
        var a = Npy.Read(Fx.Path("npy", file));
        Assert.Equal(dtype, a.DType);
        Assert.Equal([2, 3, 4], a.Shape);
        Assert.Equal(Fx.Expected24, a.ToTensor().ToArray());
    }

    [Fact]
    public void Integer_and_bool_arrays_read_raw_and_as_float()
    {
        var i8 = Npy.Read(Fx.Path("npy", "i8.npy"));
        Assert.Equal(DType.I64, i8.DType);
        Assert.Equal(Fx.Expected24.Select(x => (long)(x * 2)).ToArray(), i8.ToInt64());
        var i4 = Npy.Read(Fx.Path("npy", "i4_be.npy"));
        Assert.Equal(DType.I32, i4.DType);
        Assert.Equal(Fx.Expected24.Select(x => x * 2).ToArray(), i4.ToTensor().ToArray());
        var u1 = Npy.Read(Fx.Path("npy", "u1.npy"));
        Assert.Equal(Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), u1.ToTensor().ToArray());
        var b = Npy.Read(Fx.Path("npy", "bool.npy"));
        Assert.Equal(DType.Bool, b.DType);
        Assert.Equal(Fx.Expected24.Select(x => x > 0 ? 1f : 0f).ToArray(), b.ToTensor().ToArray());
    }

    [Fact]
    public void Scalars_vectors_and_zero_size_arrays()
    {
        var s = Npy.Read(Fx.Path("npy", "scalar.npy"));
        Assert.Empty(s.Shape);
        Assert.Equal(3.5f, s.ToTensor().ToArray().Single());
        var e = Npy.Read(Fx.Path("npy", "empty.npy"));
        Assert.Equal([0, 3], e.Shape);
        Assert.Equal(0, e.ToTensor().Numel);
        var v = Npy.Read(Fx.Path("npy", "vector.npy"));
        Assert.Equal([5], v.Shape);
    }

    [Fact]
    public void Object_arrays_are_refused()
    {
        var ex = Assert.Throws<CheckpointException>(() => CheckpointFile.Load(Fx.Path("npy", "object.npy")));
        Assert.Contains("object", ex.Message);
        Assert.Contains("object.npy", ex.Message);
    }

    [Theory]
    [InlineData("stored.npz")]
    [InlineData("deflated.npz")]
    public void Npz_stored_and_deflated_keep_keys_in_order(string file)
    {
        var arrays = Npz.Read(Fx.Path("npy", file));
        Assert.Equal(["a", "nested/key/b", "c", "s"], arrays.Select(a => a.Key));
        Assert.Equal(Fx.Expected24, arrays[0].Value.ToTensor().ToArray());
        Assert.Equal(DType.F16, arrays[1].Value.DType);
        Assert.Equal(Fx.Expected24, arrays[1].Value.ToTensor().ToArray());
        Assert.Equal([0L, 1, 2, 3, 4, 5, 6], arrays[2].Value.ToInt64());
        Assert.Empty(arrays[3].Value.Shape);
        Assert.Equal(2f, arrays[3].Value.ToTensor().ToArray()[0]);
    }

    [Fact]
    public void Header_variants_parse()
    {
        Assert.Equal([2, 3], Npy.ParseHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }      \n", null).shape);
        Assert.Equal([7], Npy.ParseHeader("{ \"shape\" : ( 7 , ) ,\"descr\":\"<f8\",'fortran_order':True}", null).shape);
        Assert.Empty(Npy.ParseHeader("{'descr': '|b1', 'fortran_order': False, 'shape': ()}", null).shape);
        Assert.Equal([3, 4], Npy.ParseHeader("{'descr': '<i8', 'fortran_order': False, 'shape': (3L, 4L), }", null).shape);
        Assert.Equal(DType.BF16, Npy.ParseHeader("{'descr': '|V2', 'fortran_order': False, 'shape': (2,)}", null).dtype);
        Assert.Throws<CheckpointException>(() => Npy.ParseHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", null));
        Assert.Throws<CheckpointException>(() => Npy.ParseHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (2,)}", null));
        Assert.Throws<CheckpointException>(() => Npy.ParseHeader("{'descr': '<f4', 'shape': (2,)}", null));
        Assert.Throws<CheckpointException>(() => Npy.ParseHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 1000)}", null));
    }

    [Fact]
    public void Writer_pads_header_to_64_and_round_trips_each_dtype()
    {
        foreach (var dt in new[] { DType.F32, DType.F16, DType.F64 })
        {
            var t = Tensor.FromArray(Fx.Expected24, 2, 3, 4);
            var ms = new MemoryStream();
            Npy.Write(ms, RawArray.FromTensor(t, dt));
            var bytes = ms.ToArray();
            int headerLen = BitConverter.ToUInt16(bytes, 8);
            Assert.Equal(0, (10 + headerLen) % 64);
            Assert.Equal((byte)'\n', bytes[10 + headerLen - 1]);
            ms.Position = 0;
            var back = Npy.Read(ms, ms.Length, "mem");
            Assert.Equal(dt, back.DType);
            Assert.Equal(Fx.Expected24, back.ToTensor().ToArray());
        }
    }

    [Fact]
    public void Huge_shape_in_a_small_file_is_refused_before_allocating()
    {
        var path = Fx.TempFile(".npy");
        var hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (40000, 40000), }";
        hdr += new string(' ', 64 - (10 + hdr.Length + 1) % 64) + "\n";
        var b = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 };
        b.AddRange(BitConverter.GetBytes((ushort)hdr.Length));
        b.AddRange(System.Text.Encoding.ASCII.GetBytes(hdr));
        b.AddRange(new byte[64]);
        File.WriteAllBytes(path, b.ToArray());
        var ex = Assert.Throws<CheckpointException>(() => CheckpointFile.Load(path));
        Assert.Contains("truncated", ex.Message);
        File.Delete(path);
    }
}
