namespace VitSharp.Tests.Training;

/// <summary>
/// Tests that compare runs bit for bit (exact resume) or force SIMD levels with Cpu.With. Cpu.Level is process-wide,
/// so a test forcing it while another runs changes that one's arithmetic; this collection runs alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "Training serial";
}
