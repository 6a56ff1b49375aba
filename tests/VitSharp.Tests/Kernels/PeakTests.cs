using VitSharp.Kernels;

namespace VitSharp.Tests.Kernels;

public class PeakTests
{
    [Fact]
    public void MeasureGflops_ReturnsAPositiveRateAtEachLevel()
    {
        foreach (var level in new[] { SimdLevel.Scalar, Cpu.Detected })
        {
            Cpu.With(level, () =>
            {
                double g = Peak.MeasureGflops(threads: 2, seconds: 0.05, runs: 3);
                Assert.True(double.IsFinite(g) && g > 0, $"{level}: {g}");
            });
        }
    }
}
