using System.Runtime.CompilerServices;

namespace VitSharp.Tensors;

/// <summary>
/// A flat float32 buffer shared by a tensor and all its views. Arrays come from the pinned object heap,
/// so kernels may take raw pointers without pinning; inside a <see cref="TensorScope"/> they are rented
/// from <see cref="StoragePool"/> and given back when the scope ends.
/// </summary>
public sealed class Storage
{
    /// <summary>The backing array; may be longer than <see cref="Length"/> when it came from the pool.</summary>
    public float[] Data { get; private set; }

    /// <summary>Number of valid elements.</summary>
    public int Length { get; }

    internal bool Pooled;

    internal Storage(float[] data, int length)
    {
        Data = data;
        Length = length;
    }

    /// <summary>Wraps an existing array (no copy).</summary>
    public static Storage Wrap(float[] data) => new(data, data.Length);

    /// <summary>Allocates <paramref name="length"/> floats, zeroed when <paramref name="clear"/> is set.</summary>
    public static Storage Allocate(int length, bool clear = true)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length));
        var scope = TensorScope.Current;
        if (scope != null && length >= StoragePool.MinPooledLength)
        {
            var arr = StoragePool.Rent(length);
            if (clear) Array.Clear(arr, 0, length);
            var s = new Storage(arr, length) { Pooled = true };
            scope.Track(s);
            return s;
        }
        var data = length == 0 ? [] : GC.AllocateUninitializedArray<float>(length, pinned: true);
        if (clear) Array.Clear(data);
        return new Storage(data, length);
    }

    internal void ReturnToPool()
    {
        if (!Pooled) return;
        Pooled = false;
        StoragePool.Return(Data);
        Data = [];
    }

    public Span<float> AsSpan() => Data.AsSpan(0, Length);

    public ref float Ref(int index) => ref Unsafe.Add(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(Data), index);
}

/// <summary>
/// Size-bucketed pool of pinned float arrays (power-of-two buckets) so that a steady-state loop reuses
/// the same memory instead of paying for fresh pages and GC work every step.
/// </summary>
public static class StoragePool
{
    internal const int MinPooledLength = 1024;
    private static readonly Stack<float[]>[] Buckets = CreateBuckets();
    private static readonly Lock Gate = new();

    private static Stack<float[]>[] CreateBuckets()
    {
        var b = new Stack<float[]>[32];
        for (int i = 0; i < b.Length; i++) b[i] = new Stack<float[]>();
        return b;
    }

    private static int BucketOf(int length) => 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)(length - 1));

    public static float[] Rent(int length)
    {
        int bucket = BucketOf(length);
        lock (Gate)
        {
            if (Buckets[bucket].Count > 0) return Buckets[bucket].Pop();
        }
        return GC.AllocateUninitializedArray<float>(1 << bucket, pinned: true);
    }

    public static void Return(float[] array)
    {
        if (array.Length == 0 || !System.Numerics.BitOperations.IsPow2(array.Length)) return;
        int bucket = BucketOf(array.Length);
        lock (Gate) Buckets[bucket].Push(array);
    }

    /// <summary>Drops every pooled array (lets the GC reclaim them).</summary>
    public static void Clear()
    {
        lock (Gate) foreach (var b in Buckets) b.Clear();
    }
}

/// <summary>
/// A region whose temporary tensors are recycled when it ends. Library code (trainer, predictor) opens one
/// per step so users never dispose tensors themselves. Tensors that must outlive the scope are passed to
/// <see cref="Keep"/> (or created outside it).
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] private static TensorScope? current;
    private readonly TensorScope? parent;
    private readonly List<Storage> tracked = [];
    private bool disposed;

    public static TensorScope? Current => current;

    private TensorScope()
    {
        parent = current;
        current = this;
    }

    public static TensorScope Begin() => new();

    /// <summary>Allocations made until the returned value is disposed are not tracked by any scope.</summary>
    public static ScopeSuspension Suspend()
    {
        var saved = current;
        current = null;
        return new ScopeSuspension(saved);
    }

    internal static void SetCurrent(TensorScope? scope) => current = scope;

    internal void Track(Storage s) => tracked.Add(s);

    /// <summary>Keeps a tensor's storage alive past this scope (it moves to the enclosing scope, if any).</summary>
    public Tensor Keep(Tensor t)
    {
        int i = tracked.IndexOf(t.Storage);
        if (i >= 0)
        {
            tracked.RemoveAt(i);
            if (parent != null) parent.Track(t.Storage);
            else t.Storage.Pooled = false; // now owned by the GC
        }
        return t;
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var s in tracked) s.ReturnToPool();
        tracked.Clear();
        current = parent;
    }
}

/// <summary>Temporarily leaves any tensor scope (allocations inside are owned by the GC).</summary>
public readonly struct ScopeSuspension : IDisposable
{
    private readonly TensorScope? saved;
    internal ScopeSuspension(TensorScope? saved) => this.saved = saved;
    public void Dispose() => TensorScope.SetCurrent(saved);
}
