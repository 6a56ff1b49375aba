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
}
