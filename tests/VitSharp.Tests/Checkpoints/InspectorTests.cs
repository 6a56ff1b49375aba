using System.Text.Json;
using VitSharp.Checkpoints;

namespace VitSharp.Tests.Checkpoints;

public class InspectorTests
{
    [Fact]
    public void Info_json_lists_format_architecture_arrays_parameters_and_flops()
    {
        var r = CheckpointReport.Inspect(Fx.Path("tiny", "google.npz"));
        using var doc = JsonDocument.Parse(r.ToJson());
        var root = doc.RootElement;
        Assert.Equal("npz", root.GetProperty("format").GetString());
        Assert.Equal("google", root.GetProperty("naming").GetString());
        Assert.Equal(20133, root.GetProperty("parameters").GetInt64());
        Assert.True(root.GetProperty("gflops").GetDouble() > 0);
        var arch = root.GetProperty("architecture");
        Assert.Equal(32, arch.GetProperty("embed_dim").GetInt32());
        Assert.Equal(4, arch.GetProperty("num_heads").GetInt32());
        Assert.Equal(4, arch.GetProperty("patch_size").GetInt32());
        var arrays = root.GetProperty("arrays").EnumerateArray().ToList();
        Assert.Equal(42, arrays.Count);
        Assert.Equal("embedding/kernel", arrays[0].GetProperty("name").GetString());
        Assert.Equal([4, 4, 3, 32], arrays[0].GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()));
        Assert.Equal("float32", arrays[0].GetProperty("dtype").GetString());

        var text = r.ToText();
        Assert.Contains("npz (Google names)", text);
        Assert.Contains("heads 4 (checkpoint layout)", text);
        Assert.Contains("Transformer/encoderblock_1/MultiHeadDotProductAttention_1/query/kernel", text);
    }

    [Fact]
    public void Info_on_a_non_vit_file_still_lists_arrays()
    {
        var r = CheckpointReport.Inspect(Fx.Path("torch", "layouts.pth"));
        Assert.Null(r.Architecture);
        using var doc = JsonDocument.Parse(r.ToJson());
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("architecture").ValueKind);
        Assert.Contains(doc.RootElement.GetProperty("arrays").EnumerateArray(), a => a.GetProperty("name").GetString() == "bf16" && a.GetProperty("dtype").GetString() == "bfloat16");
    }

    [Fact]
    public void Cli_info_and_convert_run_end_to_end()
    {
        var outPath = Fx.TempFile(".safetensors");
        Assert.Equal(0, VitSharp.Cli.Program.Main(["convert", Fx.Path("tiny", "torchvision.pth"), outPath, "--to-names", "timm"]));
        Fx.AssertSameTensors(CheckpointFile.Load(Fx.Path("tiny", "timm.safetensors")).Tensors, CheckpointFile.Load(outPath).Tensors);
        Assert.Equal(0, VitSharp.Cli.Program.Main(["info", outPath, "--json"]));
        Assert.Equal(2, VitSharp.Cli.Program.Main(["info", Fx.Path("evil", "system_top.pth")]));
        Assert.Equal(2, VitSharp.Cli.Program.Main(["convert", outPath, outPath + ".xyz"]));
        File.Delete(outPath);
    }
}
