using VitSharp.Checkpoints;
using System.Text;
using System.Text.Json;
using VitSharp.Tensors;
using VitSharp.Training;

namespace VitSharp.Tests.Training;

/// <summary>A linear classifier on flattened images, built from raw tensors (stands in for a ViT in trainer tests).</summary>
internal sealed class TinyLinearModel : ITrainModel
{
    public readonly Tensor HeadWeight, HeadBias, BackboneWeight;
    public bool Training { get; private set; }

    public TinyLinearModel(int features, int hidden, int classes, int seed)
    {
        var r = new Random(seed);
        BackboneWeight = Tensor.RandN(r, 0.3f, features, hidden);
        HeadWeight = Tensor.RandN(r, 0.3f, hidden, classes);
        HeadBias = Tensor.Zeros(classes);
        foreach (var p in new[] { BackboneWeight, HeadWeight, HeadBias }) p.RequiresGrad = true;
    }

    public Tensor Forward(Tensor images)
    {
        var x = images.Reshape(images.Shape[0], -1);
        var h = Tensor.MatMul(x, BackboneWeight);
        return Tensor.MatMul(h, HeadWeight) + HeadBias;
    }

    public IEnumerable<(string Name, Tensor Param)> NamedParameters() =>
        [("backbone.weight", BackboneWeight), ("head.weight", HeadWeight), ("head.bias", HeadBias)];

    public void Train() => Training = true;
    public void Eval() => Training = false;
}

/// <summary>Cross-entropy from engine ops (log-softmax by hand), so trainer tests do not depend on F.CrossEntropy.</summary>
internal sealed class OpsCrossEntropy : ILoss
{
    public Tensor Compute(Tensor logits, int[] labels, float labelSmoothing)
    {
        int c = logits.Shape[1];
        return Compute(logits, Tensor.FromArray(VitSharp.Data.MixupCutmix.Targets(labels, c, 1, labelSmoothing), labels.Length, c));
    }

    public Tensor Compute(Tensor logits, Tensor softTargets)
    {
        var m = logits.Max(1, keepDim: true);
        var shifted = logits - m;
        var logSoftmax = shifted - shifted.Exp().Sum(1, keepDim: true).Log();
        return -(softTargets * logSoftmax).Sum(1).Mean();
    }
}

/// <summary>Three separable classes of 1×4×4 images (a bright quadrant per class plus noise), batched with a per-epoch shuffle.</summary>
internal sealed class SyntheticSource : IBatchSource
{
    private readonly float[][] images;
    private readonly int[] labels;
    private readonly int batchSize;
    private readonly ulong seed;
    private readonly bool shuffle;

    private readonly int side;

    public SyntheticSource(int count, int batchSize, ulong seed, bool shuffle, int side = 4)
    {
        this.side = side;
        var rng = new Rng(seed, 77);
        images = new float[count][];
        labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            int y = i % 3;
            var img = new float[side * side];
            for (int k = 0; k < img.Length; k++) img[k] = (float)(rng.NextGaussian() * 0.5);
            if (side == 4)
                for (int k = 0; k < 4; k++) img[y * 5 + k % 2 + (k / 2) * 4] += 1.5f;
            else
                for (int k = 0; k < img.Length; k++) if ((k / side + k % side) % 3 == y) img[k] += 1.5f;
            images[i] = img;
            labels[i] = y;
        }
        this.batchSize = batchSize;
        this.seed = seed;
        this.shuffle = shuffle;
    }

    public int SampleCount => images.Length;
    public int BatchesPerEpoch => (images.Length + batchSize - 1) / batchSize;

    public IEnumerable<Batch> Batches(int epoch)
    {
        var order = Enumerable.Range(0, images.Length).ToArray();
        if (shuffle) new Rng(seed, 1000 + (ulong)epoch).Shuffle(order.AsSpan());
        for (int s = 0; s < order.Length; s += batchSize)
        {
            int n = Math.Min(batchSize, order.Length - s);
            int px = side * side;
            var data = new float[n * px];
            var lab = new int[n];
            for (int j = 0; j < n; j++)
            {
                images[order[s + j]].CopyTo(data, j * px);
                lab[j] = labels[order[s + j]];
            }
            yield return new Batch(Tensor.FromArray(data, n, 1, side, side), lab);
        }
    }
}

/// <summary>A simple checkpoint file format for tests (JSON metadata + raw floats), written atomically.</summary>
internal sealed class TestCheckpointStore : ICheckpointStore
{
    public int Saves;

    public void Save(string path, IReadOnlyList<(string Name, Tensor Value)> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Saves++;
        AtomicFile.Write(path, s =>
        {
            using var w = new BinaryWriter(s, Encoding.UTF8, leaveOpen: true);
            w.Write(JsonSerializer.Serialize(metadata));
            w.Write(tensors.Count);
            foreach (var (n, t) in tensors)
            {
                w.Write(n);
                w.Write(t.Rank);
                foreach (var d in t.Shape) w.Write(d);
                foreach (var v in t.ToArray()) w.Write(v);
            }
        });
    }

    public (IReadOnlyList<(string Name, Tensor Value)> Tensors, IReadOnlyDictionary<string, string> Metadata) Load(string path)
    {
        using var r = new BinaryReader(File.OpenRead(path));
        var meta = JsonSerializer.Deserialize<Dictionary<string, string>>(r.ReadString())!;
        int count = r.ReadInt32();
        var list = new List<(string, Tensor)>();
        for (int i = 0; i < count; i++)
        {
            string n = r.ReadString();
            var shape = new int[r.ReadInt32()];
            for (int k = 0; k < shape.Length; k++) shape[k] = r.ReadInt32();
            var t = Tensor.Zeros(shape);
            var s = t.AsSpan();
            for (int k = 0; k < s.Length; k++) s[k] = r.ReadSingle();
            list.Add((n, t));
        }
        return (list, meta);
    }
}
