using VitSharp.Data;

namespace VitSharp.Cli.Commands;

/// <summary>
/// The `--data` spec shared by train and eval: a class-folder root, 'fashion-mnist' (Debian's full set),
/// 'fashion-mnist-embedded' (the shipped subset) or 'cifar10 DIR', optionally narrowed by `--classes`.
/// </summary>
internal static class DataSpec
{
    internal const string Help = "Class-folder root, 'fashion-mnist' (Debian's full set), 'fashion-mnist-embedded' (the shipped subset), or 'cifar10 DIR'";

    internal const string ClassesHelp = "Train/evaluate on a subset of the classes, relabelled 0..k-1 in the order given: indices, ranges or names (e.g. 0-4, 5,6,7,8,9, Bag,Sandal)";

    internal sealed record TrainingData(IImageDataset Train, IImageDataset? Val, IReadOnlyList<string> Classes, int Channels, bool Folder);

    /// <summary>The built-in fixed-size sets: (train, official test split), or null for a folder spec.</summary>
    private static (InMemoryDataset Train, InMemoryDataset Test)? Builtin(string[] spec)
    {
        if (spec.Length == 1 && spec[0].Equals("fashion-mnist-embedded", StringComparison.OrdinalIgnoreCase)) return FashionMnist.LoadEmbedded();
        if (spec.Length == 1 && spec[0].Equals("fashion-mnist", StringComparison.OrdinalIgnoreCase)) return FashionMnist.Load();
        if (spec.Length == 2 && spec[0].Equals("cifar10", StringComparison.OrdinalIgnoreCase)) return Cifar10.Load(spec[1]);
        if (spec.Length == 1 && spec[0].Equals("cifar10", StringComparison.OrdinalIgnoreCase))
            throw new VitException("--data cifar10 needs the folder of the binary batches: --data cifar10 DIR");
        if (spec.Length != 1) throw new VitException($"--data takes a folder, 'fashion-mnist', 'fashion-mnist-embedded' or 'cifar10 DIR' (got '{string.Join(' ', spec)}')");
        if (!Directory.Exists(spec[0]))
            throw new VitException(File.Exists(spec[0]) ? $"--data: '{spec[0]}' is a file, not a folder of class sub-folders" : $"--data: folder '{spec[0]}' does not exist");
        return null;
    }

    /// <summary>Training data: built-in sets use their official test split for validation; folders the tutorial split.</summary>
    internal static TrainingData ForTraining(string[] spec, string? classes, double valRate, ulong seed, int channels, Action<string> log)
    {
        if (Builtin(spec) is var (tr, te))
        {
            if (classes != null)
            {
                var keep = ClassSubset.Parse(classes, tr.Classes);
                tr = tr.FilterClasses(keep);
                te = te.FilterClasses(keep);
                log($"classes: {Describe(keep, tr.Classes)}");
            }
            return new TrainingData(tr, te, tr.Classes, tr.Channels, false);
        }
        var select = FolderClasses(spec[0], classes, log);
        var split = ImageFolder.Split(spec[0], valRate, seed, log, channels: channels, select: select);
        return new TrainingData(split.Train, split.Validation.Count > 0 ? split.Validation : null, split.Classes, channels, true);
    }

    /// <summary>The class folders a --classes selection keeps (null: all of them).</summary>
    private static IReadOnlyList<string>? FolderClasses(string folder, string? classes, Action<string> log)
    {
        if (classes == null) return null;
        var all = ImageFolder.FindClasses(folder);
        var keep = ClassSubset.Parse(classes, all);
        var select = ClassSubset.Names(keep, all);
        log($"classes: {Describe(keep, select)}");
        return select;
    }

    /// <summary>
    /// Evaluation data labelled with the model's class indices: built-in sets give their official test split,
    /// folders every image. With class names from the checkpoint (or --labels), data classes are matched to the
    /// model's by name; without them the class counts must agree.
    /// </summary>
    internal static IImageDataset ForEvaluation(string[] spec, string? classes, int channels, IReadOnlyList<string>? modelClasses, int modelNumClasses, Action<string> log)
    {
        IImageDataset data;
        if (Builtin(spec) is var (_, te))
        {
            if (classes != null)
            {
                var keep = ClassSubset.Parse(classes, te.Classes);
                te = te.FilterClasses(keep);
                log($"classes: {Describe(keep, te.Classes)}");
            }
            data = modelClasses == null ? te : AlignToModel(te, modelClasses, classes != null);
        }
        else
        {
            data = ImageFolder.Load(spec[0], channels, modelClasses, FolderClasses(spec[0], classes, log));
        }
        if (data.Classes.Count != modelNumClasses)
            throw new VitException($"the data has {data.Classes.Count} classes, the model {modelNumClasses}; pass --labels, or pick the model's classes with --classes");
        return data;
    }

    /// <summary>Relabels an in-memory set so label i means the model's class i (matched by name).</summary>
    private static InMemoryDataset AlignToModel(InMemoryDataset set, IReadOnlyList<string> modelClasses, bool subsetGiven)
    {
        var map = new int[set.Classes.Count];
        for (int c = 0; c < set.Classes.Count; c++)
        {
            int m = -1;
            for (int k = 0; k < modelClasses.Count && m < 0; k++)
                if (modelClasses[k] == set.Classes[c] || ImageFolder.FolderName(modelClasses[k]) == ImageFolder.FolderName(set.Classes[c])) m = k;
            if (m < 0)
                throw new VitException($"data class '{set.Classes[c]}' is not one of the model's {modelClasses.Count} classes ({string.Join(", ", modelClasses)})" +
                                       (subsetGiven ? "" : "; pick the model's classes with --classes"));
            map[c] = m;
        }
        if (map.Length == modelClasses.Count && map.Select((m, i) => m == i).All(x => x)) return set;
        return set.Subset([.. Enumerable.Range(0, set.Count)], l => map[l], modelClasses);
    }

    private static string Describe(IReadOnlyList<int> keep, IReadOnlyList<string> names) =>
        string.Join(", ", keep.Select((k, i) => $"{names[i]} (data class {k} -> label {i})"));
}
