using System.Text;
using VitSharp.Checkpoints;

namespace VitSharp.Tests.Checkpoints;

public class SecurityTests
{
    private const string Marker = "/tmp/vitsharp_pickle_pwned_marker";

    [Theory]
    [InlineData("system_in_state_dict.pth", "posix.system")]
    [InlineData("system_top.pth", "posix.system")]
    [InlineData("eval_stack_global.pth", "builtins.eval")]
    [InlineData("inst.pth", "posix.system")]
    [InlineData("nested_reduce.pth", "posix.system")]
    public void Malicious_pickles_are_refused_naming_the_global_and_nothing_runs(string file, string global)
    {
        if (File.Exists(Marker)) File.Delete(Marker);
        var path = Fx.Path("evil", file);
        var ex = Assert.Throws<CheckpointException>(() => CheckpointFile.Load(path));
        Assert.Contains($"'{global}'", ex.Message);
        Assert.Contains(path, ex.Message);
        Assert.Contains("nothing was executed", ex.Message);
        Assert.False(File.Exists(Marker));
    }

    [Fact]
    public void Legacy_and_torchscript_files_are_refused_clearly()
    {
        Assert.Contains("legacy", Assert.Throws<CheckpointException>(() => CheckpointFile.Load(Fx.Path("evil", "legacy.pth"))).Message);
        Assert.Contains("TorchScript", Assert.Throws<CheckpointException>(() => CheckpointFile.Load(Fx.Path("evil", "torchscript.pt"))).Message);
    }

    [Theory]
    [InlineData("cos\nsystem\n", "os.system")]
    [InlineData("cbuiltins\nexec\n", "builtins.exec")]
    [InlineData("ctorch\nload\n", "torch.load")]
    [InlineData("csubprocess\nPopen\n", "subprocess.Popen")]
    [InlineData("ccollections\nnamedtuple\n", "collections.namedtuple")]
    public void Only_allow_listed_globals_resolve(string op, string name)
    {
        var pkl = new List<byte> { 0x80, 2 };
        pkl.AddRange(Encoding.ASCII.GetBytes(op));
        pkl.AddRange(")R."u8.ToArray());
        var ex = Assert.Throws<CheckpointException>(() => RestrictedUnpickler.Load(pkl.ToArray(), "mem"));
        Assert.Contains($"'{name}'", ex.Message);
    }

    [Fact]
    public void Allowed_names_cannot_be_called_in_unsupported_ways()
    {
        // torch.FloatStorage is allowed as a storage type but may not be called.
        var call = new List<byte> { 0x80, 2 };
        call.AddRange("ctorch\nFloatStorage\n)R."u8.ToArray());
        Assert.Throws<CheckpointException>(() => RestrictedUnpickler.Load(call.ToArray(), "mem"));
        // Opcodes outside the state-dict set (e.g. EXT1, PERSID text form) are refused.
        Assert.Contains("opcode", Assert.Throws<CheckpointException>(() => RestrictedUnpickler.Load([0x80, 2, 0x82, 1, (byte)'.'], "mem")).Message);
        Assert.Contains("opcode", Assert.Throws<CheckpointException>(() => RestrictedUnpickler.Load("P0\n."u8.ToArray(), "mem")).Message);
    }

    private static string ZipPickle(byte[] pkl, byte[]? storage0 = null)
    {
        var path = Fx.TempFile(".pth");
        using var fs = File.Create(path);
        var zw = new ZipWriter(fs);
        zw.AddStored("archive/data.pkl", pkl);
        if (storage0 != null) zw.AddStored("archive/data/0", storage0);
        zw.AddStored("archive/version", "3\n"u8);
        zw.Finish();
        return path;
    }

    private static byte[] Concat(params object[] parts)
    {
        var ms = new MemoryStream();
        foreach (var p in parts)
        {
            switch (p)
            {
                case string str: ms.Write(Encoding.Latin1.GetBytes(str)); break;
                case byte[] b: ms.Write(b); break;
                case int i: ms.WriteByte((byte)'J'); ms.Write(BitConverter.GetBytes(i)); break;
            }
        }
        return ms.ToArray();
    }

    private static string U(string s) => "X" + Encoding.Latin1.GetString(BitConverter.GetBytes(s.Length)) + s;

    [Fact]
    public void Stride_zero_views_cannot_inflate_a_tiny_file_into_gigabytes()
    {
        // One float of storage viewed as a (40000, 40000) tensor with strides (0, 0): 6.4 GB if materialised.
        var pkl = Concat(new byte[] { 0x80, 2 }, "ccollections\nOrderedDict\n)R(", U("w"), "ctorch._utils\n_rebuild_tensor_v2\n(",
            "(", U("storage"), "ctorch\nFloatStorage\n", U("0"), U("cpu"), 1, "tQ", 0, "(", 40000, 40000, "t(", 0, 0, "t",
            new byte[] { 0x89 }, "ccollections\nOrderedDict\n)RtRu.");
        var path = ZipPickle(pkl, new byte[4]);
        var ex = Assert.Throws<CheckpointException>(() => CheckpointFile.Load(path));
        Assert.Contains("add up", ex.Message);
        File.Delete(path);
    }

    [Fact]
    public void Deep_nesting_is_an_error_not_a_stack_overflow()
    {
        // 200k nested dicts: parsed iteratively, and the state-dict search stops at a sane depth.
        var ms = new MemoryStream();
        ms.Write([0x80, 2]);
        for (int i = 0; i < 200_000; i++) { ms.WriteByte((byte)'}'); ms.Write(Encoding.Latin1.GetBytes(U("model"))); }
        ms.WriteByte((byte)'}');
        for (int i = 0; i < 200_000; i++) ms.WriteByte((byte)'s');
        ms.WriteByte((byte)'.');
        var path = ZipPickle(ms.ToArray());
        Assert.Contains("no dictionary of tensors", Assert.Throws<CheckpointException>(() => CheckpointFile.Load(path)).Message);
        File.Delete(path);
        // _rebuild_from_type_v2(f, None, (f, None, (f, None, ...), None), None): recursion is bounded.
        const string g = "ctorch._tensor\n_rebuild_from_type_v2\n";
        string x = ")";
        for (int i = 0; i < 50; i++) x = "(" + g + "N" + x + "Nt";
        var deep = Concat(new byte[] { 0x80, 2 }, g, x, "R.");
        Assert.Contains("too deep", Assert.Throws<CheckpointException>(() => RestrictedUnpickler.Load(deep, "deep.pkl")).Message);
    }
}
