using System.Text;
using VitSharp.Checkpoints;
using VitSharp.Tensors;

namespace VitSharp.Tests.Checkpoints;

public class SafeTensorsTests
{
    private static byte[] Build(string json, int dataBytes, bool pad = true)
    {
        var h = Encoding.UTF8.GetBytes(json);
        int n = pad ? (h.Length + 7) / 8 * 8 : h.Length;
        var b = new byte[8 + n + dataBytes];
        BitConverter.GetBytes((ulong)n).CopyTo(b, 0);
        Array.Fill(b, (byte)' ', 8, n);
        h.CopyTo(b, 8);
        return b;
    }

    private static CheckpointException Fails(byte[] bytes)
    {
        var path = Fx.TempFile(".safetensors");
        File.WriteAllBytes(path, bytes);
        try
        {
            var ex = Assert.Throws<CheckpointException>(() => SafeTensors.Read(path));
            Assert.Contains(path, ex.Message);
            return ex;
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Valid_minimal_file_reads()
    {
        var b = Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"__metadata__\":{\"k\":\"v\"}}", 8);
        BitConverter.GetBytes(1.5f).CopyTo(b, b.Length - 8);
        var path = Fx.TempFile(".safetensors");
        File.WriteAllBytes(path, b);
        var c = SafeTensors.Read(path);
        Assert.Equal("v", c.Metadata["k"]);
        Assert.Equal(1.5f, c.Tensors[0].Value.ToTensor().ToArray()[0]);
        File.Delete(path);
    }

    [Fact]
    public void Header_validation_matches_the_reference_reader()
    {
        Assert.Contains("gap", Fails(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8)).Message);
        Assert.Contains("gap or overlap", Fails(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8)).Message);
        Assert.Contains("needs 8 bytes", Fails(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 12)).Message);
        Assert.Contains("trailing", Fails(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 9)).Message);
        Assert.Contains("truncated", Fails(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 7)).Message);
        Assert.Contains("unsupported dtype", Fails(Build("{\"a\":{\"dtype\":\"C64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16)).Message);
        Assert.Contains("duplicate", Fails(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8)).Message);
        Assert.Contains("not a string", Fails(Build("{\"__metadata__\":{\"k\":1}}", 0)).Message);
        Assert.Contains("'{'", Fails(Build("[{\"a\":1}]", 0)).Message);
        Assert.Contains("JSON", Fails(Build("{\"a\":{\"dtype\":\"F32\",", 0)).Message);
        var huge = new byte[16];
        BitConverter.GetBytes(200_000_000UL).CopyTo(huge, 0);
        huge[8] = (byte)'{';
        Assert.Contains("100 MB", Fails(huge).Message);
        var past = new byte[16];
        BitConverter.GetBytes(1000UL).CopyTo(past, 0);
        past[8] = (byte)'{';
        Assert.Contains("past the end", Fails(past).Message);
    }

    [Fact]
    public void Writer_pads_header_to_8_and_round_trips_dtypes_and_metadata()
    {
        var t = Tensor.FromArray([1f, -2.5f, 3.25f, 1e-3f, 65504f, -0f], 2, 3);
        var meta = new CheckpointMetadata
        {
            Arch = "vit_tiny_patch16_224",
            ConfigJson = "{\"num_heads\": 3, \"img_size\": 224}",
            Classes = ["daisy", "rose \"red\""],
            Preprocess = new PreprocessInfo { Mean = [0.485f, 0.456f, 0.406f], Std = [0.229f, 0.224f, 0.225f], ResizeShorter = 256 },
        };
        foreach (var dt in new[] { DType.F32, DType.F16, DType.BF16 })
        {
            var path = Fx.TempFile(".safetensors");
            CheckpointFile.Save(path, [new("w", t), new("b", Tensor.FromArray([7f], 1))], meta, dt);
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(0UL, BitConverter.ToUInt64(bytes, 0) % 8);
            var ck = CheckpointFile.Load(path);
            Assert.Equal(CheckpointFormat.SafeTensors, ck.Format);
            Assert.Equal(["w", "b"], ck.Arrays.Select(a => a.Name));
            Assert.Equal(dt, ck.Arrays[0].SourceDType);
            var back = ck.Arrays[0].Tensor.ToArray();
            var src = t.ToArray();
            for (int i = 0; i < src.Length; i++)
                Assert.Equal(src[i], back[i], dt == DType.F32 ? 0f : Math.Abs(src[i]) * (dt == DType.BF16 ? 8e-3f : 1e-3f));
            Assert.Equal("vit_tiny_patch16_224", ck.Metadata.Arch);
            Assert.Equal(3, ck.Metadata.ConfigInt("num_heads"));
            Assert.Equal(["daisy", "rose \"red\""], ck.Metadata.Classes);
            Assert.Equal(256, ck.Metadata.Preprocess!.ResizeShorter);
            Assert.Equal(0.229f, ck.Metadata.Preprocess.Std[0]);
            Assert.Equal("pt", ck.Metadata.Extra["format"]);
            File.Delete(path);
        }
    }

    [Fact]
    public void Bf16_conversion_rounds_to_nearest_even()
    {
        Assert.Equal(0x3F80, DTypes.FloatToBf16(1f));
        Assert.Equal(0x3F80, DTypes.FloatToBf16(BitConverter.Int32BitsToSingle(0x3F808000))); // tie → even
        Assert.Equal(0x3F82, DTypes.FloatToBf16(BitConverter.Int32BitsToSingle(0x3F818000))); // tie → even (up)
        Assert.Equal(0x3F81, DTypes.FloatToBf16(BitConverter.Int32BitsToSingle(0x3F808001)));
    }

    [Fact]
    public void Atomic_write_leaves_no_temp_file_and_replaces_existing()
    {
        var path = Fx.TempFile(".safetensors");
        File.WriteAllText(path, "old");
        CheckpointFile.Save(path, [new("x", Tensor.FromArray([1f, 2f], 2))]);
        Assert.Equal([1f, 2f], CheckpointFile.Load(path).Arrays[0].Tensor.ToArray());
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}*.tmp"));
        File.Delete(path);
    }
}
