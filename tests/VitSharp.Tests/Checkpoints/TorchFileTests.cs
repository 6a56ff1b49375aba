using System.IO.Compression;
using VitSharp.Checkpoints;
using VitSharp.Tensors;

namespace VitSharp.Tests.Checkpoints;

public class TorchFileTests
{
    private static List<KeyValuePair<string, Tensor>> Expected() => CheckpointFile.Load(Fx.Path("torch", "layouts_expected.npz")).Tensors;

    [Theory]
    [InlineData("layouts.pth")]
    [InlineData("layouts_proto4.pth")]
    public void Shared_storages_offsets_strides_and_dtypes_materialise_like_torch(string file)
    {
        var ck = CheckpointFile.Load(Fx.Path("torch", file));
        Assert.Equal(CheckpointFormat.PyTorch, ck.Format);
        Fx.AssertSameTensors(Expected(), ck.Tensors);
        var dtypes = ck.Arrays.ToDictionary(a => a.Name, a => a.SourceDType);
        Assert.Equal(DType.F16, dtypes["half"]);
        Assert.Equal(DType.BF16, dtypes["bf16"]);
        Assert.Equal(DType.F64, dtypes["double"]);
        Assert.Equal(DType.I64, dtypes["long"]);
        Assert.Equal(["slice", "transposed", "tail", "expanded", "permuted", "half", "bf16", "double", "empty", "scalar", "param", "long"], ck.Arrays.Select(a => a.Name));
    }

    [Fact]
    public void State_dicts_nested_under_known_keys_are_found()
    {
        var nested = CheckpointFile.Load(Fx.Path("tiny", "timm_nested.pth"));
        var flat = CheckpointFile.Load(Fx.Path("tiny", "timm.pth"));
        Fx.AssertSameTensors(flat.Tensors, nested.Tensors);
        var model = CheckpointFile.Load(Fx.Path("torch", "nested_model.pth"));
        Assert.Equal([2, 3], model.Arrays.Single(a => a.Name == "w").Shape);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Writer_round_trips_with_64_byte_aligned_records(bool zip64)
    {
        var src = CheckpointFile.Load(Fx.Path("tiny", "timm.safetensors")).Tensors;
        var path = Fx.TempFile(".pth");
        var raw = src.Select(kv => new KeyValuePair<string, RawArray>(kv.Key, RawArray.FromTensor(kv.Value))).ToList();
        using (var fs = File.Create(path)) TorchFile.Write(fs, raw, forceZip64: zip64);
        var back = CheckpointFile.Load(path);
        Assert.Equal(CheckpointFormat.PyTorch, back.Format);
        Assert.Equal(src.Select(kv => kv.Key), back.Arrays.Select(a => a.Name));
        Fx.AssertSameTensors(src, back.Tensors);
        // Every record's data starts 64-byte aligned (local header 30 + name + extra).
        var bytes = File.ReadAllBytes(path);
        using var zip = new ZipArchive(new MemoryStream(bytes), ZipArchiveMode.Read);
        Assert.Contains(zip.Entries, e => e.FullName == "archive/data.pkl");
        for (int p = 0; p + 4 <= bytes.Length;)
        {
            if (BitConverter.ToUInt32(bytes, p) != 0x04034b50) break;
            int nameLen = BitConverter.ToUInt16(bytes, p + 26), extraLen = BitConverter.ToUInt16(bytes, p + 28);
            long size = BitConverter.ToUInt32(bytes, p + 18);
            int data = p + 30 + nameLen + extraLen;
            Assert.Equal(0, data % 64);
            if (size == 0xFFFFFFFF) size = (long)BitConverter.ToUInt64(bytes, p + 30 + nameLen + 4);
            p = (int)(data + size);
        }
        File.Delete(path);
    }

    [Fact]
    public void Pickle_writer_output_is_read_back_by_the_restricted_unpickler()
    {
        var pkl = PickleWriter.StateDict([("a.weight", "FloatStorage", "0", [2, 3]), ("b", "HalfStorage", "1", [])]);
        var root = Assert.IsType<PyDict>(RestrictedUnpickler.Load(pkl, "mem"));
        var a = Assert.IsType<TensorRef>(root.Get("a.weight"));
        Assert.Equal([2, 3], a.Size);
        Assert.Equal([3L, 1], a.Stride);
        Assert.Equal(DType.F32, a.Storage.DType);
        Assert.Equal(6, a.Storage.Numel);
        var b = Assert.IsType<TensorRef>(root.Get("b"));
        Assert.Equal(DType.F16, b.Storage.DType);
    }

    [Fact]
    public void View_past_the_end_of_its_storage_is_refused()
    {
        // A view claiming 10 elements of a 4-element storage: must not read out of bounds.
        var pkl = PickleWriter.StateDict([("w", "FloatStorage", "0", [4])]);
        var s = System.Text.Encoding.Latin1.GetString(pkl);
        int i = s.IndexOf("(J\u0004\0\0\0t", StringComparison.Ordinal); // size tuple (4,)
        Assert.True(i > 0);
        pkl[i + 2] = 10;
        var ex = Assert.Throws<CheckpointException>(() => RestrictedUnpickler.Load(pkl, "mem"));
        Assert.Contains("past its storage", ex.Message);
    }
}
