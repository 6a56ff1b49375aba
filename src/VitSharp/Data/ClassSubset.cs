using System.Globalization;

namespace VitSharp.Data;

/// <summary>
/// A `--classes` spec: comma-separated class names, indices or index ranges ("0-4", "5,6,7,8,9", "0-2,Bag",
/// "daisy,tulips"), resolved against a data set's class list. The chosen classes are relabelled 0..k−1 in the
/// order given, so "9,5" makes class 9 label 0. A token that is exactly a class name (or its folder name) is a
/// name first, so "T-shirt/top" is never read as a range.
/// </summary>
public static class ClassSubset
{
    /// <summary>The indices into <paramref name="classes"/> selected by <paramref name="spec"/>, in spec order.</summary>
    public static int[] Parse(string spec, IReadOnlyList<string> classes)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new VitException("--classes is empty (expected e.g. 0-4, 5,6,7 or class names)");
        var picked = new List<int>();
        foreach (var raw in spec.Split(','))
        {
            string token = raw.Trim();
            if (token.Length == 0) throw new VitException($"--classes '{spec}': empty item (two commas in a row, or a trailing comma)");
            if (IndexOfName(classes, token) is int named)
            {
                picked.Add(named);
                continue;
            }
            int dash = token.IndexOf('-', 1);
            if (TryIndex(token, out int single)) picked.Add(CheckRange(single, token, spec, classes));
            else if (dash > 0 && TryIndex(token[..dash], out int lo) && TryIndex(token[(dash + 1)..], out int hi))
            {
                CheckRange(lo, token, spec, classes);
                CheckRange(hi, token, spec, classes);
                if (hi < lo) throw new VitException($"--classes '{spec}': range '{token}' is empty (write it low-high)");
                for (int i = lo; i <= hi; i++) picked.Add(i);
            }
            else
                throw new VitException($"--classes '{spec}': '{token}' is neither a class index, a range like 0-4, nor one of the classes ({List(classes)})");
        }
        var dup = picked.GroupBy(i => i).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new VitException($"--classes '{spec}': class {dup.Key} ('{classes[dup.Key]}') is selected twice");
        return [.. picked];
    }

    /// <summary>The names of the selected classes, in label order.</summary>
    public static string[] Names(IReadOnlyList<int> selected, IReadOnlyList<string> classes) => [.. selected.Select(i => classes[i])];

    private static int? IndexOfName(IReadOnlyList<string> classes, string token)
    {
        for (int i = 0; i < classes.Count; i++) if (classes[i] == token) return i;
        for (int i = 0; i < classes.Count; i++) if (ImageFolder.FolderName(classes[i]) == token) return i;
        return null;
    }

    private static bool TryIndex(string s, out int v) => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v);

    private static int CheckRange(int i, string token, string spec, IReadOnlyList<string> classes) =>
        i < classes.Count ? i : throw new VitException($"--classes '{spec}': index {i} in '{token}' is out of range (the data has {classes.Count} classes, 0-{classes.Count - 1})");

    private static string List(IReadOnlyList<string> classes) =>
        classes.Count <= 12 ? string.Join(", ", classes) : string.Join(", ", classes.Take(12)) + $", … ({classes.Count} in all)";
}
