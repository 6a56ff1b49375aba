using VitSharp.Data;

namespace VitSharp.Tests.Data;

public class ClassSubsetTests
{
    private static readonly string[] Fashion = FashionMnist.ClassNames;

    [Fact]
    public void Indices_ranges_and_names_in_the_order_given()
    {
        Assert.Equal([0, 1, 2, 3, 4], ClassSubset.Parse("0-4", Fashion));
        Assert.Equal([5, 6, 7, 8, 9], ClassSubset.Parse("5,6,7,8,9", Fashion));
        Assert.Equal([9, 5], ClassSubset.Parse(" 9 , 5 ", Fashion));
        Assert.Equal([0, 1, 8, 7], ClassSubset.Parse("0-1,Bag,7", Fashion));
        // A class name with a dash and a slash is a name, not a range; its folder name works too.
        Assert.Equal([0, 3], ClassSubset.Parse("T-shirt/top,Dress", Fashion));
        Assert.Equal([0], ClassSubset.Parse("T-shirt_top", Fashion));
        Assert.Equal([3, 3 + 1], ClassSubset.Parse("3-4", Fashion));
        Assert.Equal(["Bag", "Sandal"], ClassSubset.Names([8, 5], Fashion));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("0,,1", "empty item")]
    [InlineData("0,", "empty item")]
    [InlineData("10", "index 10 in '10' is out of range (the data has 10 classes, 0-9)")]
    [InlineData("8-12", "out of range")]
    [InlineData("4-2", "range '4-2' is empty")]
    [InlineData("1,0-2", "class 1 ('Trouser') is selected twice")]
    [InlineData("Trouser,1", "selected twice")]
    [InlineData("bag", "'bag' is neither a class index, a range like 0-4, nor one of the classes (T-shirt/top, Trouser")]
    [InlineData("-1", "neither")]
    [InlineData("1-", "neither")]
    [InlineData("1.5", "neither")]
    public void Bad_specs_give_one_clear_message(string spec, string expected)
    {
        var e = Assert.Throws<VitException>(() => ClassSubset.Parse(spec, Fashion));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void In_memory_subsets_relabel_and_keep_names()
    {
        var (_, test) = FashionMnist.LoadEmbedded();
        var sub = test.FilterClasses(ClassSubset.Parse("5-9", test.Classes));
        Assert.Equal(["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"], sub.Classes);
        Assert.Equal(test.Labels.Count(l => l >= 5), sub.Count);
        Assert.All(sub.Labels, l => Assert.InRange(l, 0, 4));
        // Image k of the subset is the k-th image of classes 5-9 in the original order, relabelled by −5.
        int first = Enumerable.Range(0, test.Count).First(i => test.Labels[i] >= 5);
        Assert.Equal(test.GetImage(first).Pixels, sub.GetImage(0).Pixels);
        Assert.Equal(test.Labels[first] - 5, sub.Labels[0]);
    }

    [Fact]
    public void Folder_split_and_load_keep_only_selected_classes()
    {
        using var dir = new TempDir();
        TestImages.MakeFolder(dir.Path, [("tulips", 10), ("daisy", 7), ("roses", 5)]);
        Directory.CreateDirectory(Path.Combine(dir.Path, "empty")); // not selected, so not an error
        var split = ImageFolder.Split(dir.Path, 0.2, 0, select: ["tulips", "daisy"]);
        Assert.Equal(["tulips", "daisy"], split.Classes);
        Assert.Equal(17, split.Train.Count + split.Validation.Count);
        Assert.All(Enumerable.Range(0, split.Train.Count), i => Assert.Equal(split.Train.Paths[i].Contains("tulips") ? 0 : 1, split.Train.GetLabel(i)));

        var all = ImageFolder.Load(dir.Path, select: ["roses"], classes: ["daisy", "roses", "tulips"]);
        Assert.Equal(5, all.Count);
        Assert.All(Enumerable.Range(0, all.Count), i => Assert.Equal(1, all.GetLabel(i)));

        var e = Assert.Throws<VitException>(() => ImageFolder.Split(dir.Path, select: ["tulips", "lilies"]));
        Assert.Contains("no class folder 'lilies'", e.Message);
    }
}
