// Kernels read process-wide settings (Cpu.Level, Workers.ThreadCount) that tests force to cover each SIMD path
// and thread count; running test classes concurrently would let one test's setting leak into another's run.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
