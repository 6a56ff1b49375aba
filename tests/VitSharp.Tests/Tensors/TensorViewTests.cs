using VitSharp.Tensors;

namespace VitSharp.Tests.Tensors;

public class TensorViewTests
{
    [Fact]
    public void Permute_and_contiguous_reorder_elements()
    {
        var t = Tensor.FromArray([0, 1, 2, 3, 4, 5], 2, 3);
        var p = t.Permute(1, 0);
        Assert.Equal([3, 2], p.Shape);
        Assert.False(p.IsContiguous);
        Assert.Equal([0f, 3, 1, 4, 2, 5], p.Contiguous().ToArray());
    }

    [Fact]
    public void Narrow_expand_reshape()
    {
        var t = Tensor.FromArray([0, 1, 2, 3, 4, 5], 2, 3);
        Assert.Equal([1f, 2, 4, 5], t.Narrow(1, 1, 2).ToArray());
        var row = Tensor.FromArray([1, 2, 3], 1, 3);
        Assert.Equal([1f, 2, 3, 1, 2, 3], row.Expand(2, 3).ToArray());
        Assert.Equal([3, 2], t.Reshape(-1, 2).Shape);
        Assert.Throws<ShapeException>(() => t.Reshape(4, -1));
    }

    [Fact]
    public void Backward_through_views_accumulates()
    {
        var x = Tensor.FromArray([1, 2, 3], 1, 3);
        x.RequiresGrad = true;
        var y = x.Expand(2, 3).Permute(1, 0).Reshape(6);
        y.Backward(Tensor.Ones(6));
        Assert.Equal([2f, 2, 2], x.Grad!.ToArray());
        var z = x.Narrow(1, 1, 2).Reshape(2);
        z.Backward(Tensor.FromArray([5, 7], 2));
        Assert.Equal([2f, 7, 9], x.Grad!.ToArray());
    }

    [Fact]
    public void Scope_recycles_storage()
    {
        float[] data;
        using (var scope = TensorScope.Begin())
        {
            var t = Tensor.Zeros(4096);
            data = t.Storage.Data;
        }
        using (var scope = TensorScope.Begin())
        {
            var t = Tensor.Zeros(4000);
            Assert.Same(data, t.Storage.Data);
        }
    }
}
