using VitSharp.Tensors;
using static VitSharp.Tests.Tensors.OpTestUtil;

namespace VitSharp.Tests.Tensors;

public class ElementwiseOpTests
{
    public static readonly int[][][] BroadcastPairs =
    [
        [[7, 13], [7, 13]],
        [[3, 131], [3, 131]],       // long rows: vector main loop + tail
        [[5, 3, 37], [37]],         // bias-like row broadcast
        [[5, 3, 37], [3, 1]],       // column broadcast (inner scalar)
        [[1], [4, 19]],             // scalar-like
        [[], [3, 2]],               // rank-0
        [[6, 1, 5], [1, 4, 1]],     // both sides broadcast
        [[2, 3, 4, 5], [3, 1, 5]],
        [[67], [1]],
    ];

    private static float Ref(string op, float a, float b) => op switch
    {
        "add" => a + b,
        "sub" => a - b,
        "mul" => a * b,
        _ => a / b,
    };

    private static Tensor Apply(string op, Tensor a, Tensor b) => op switch
    {
        "add" => a + b,
        "sub" => a - b,
        "mul" => a * b,
        _ => a / b,
    };

    [Theory]
    [InlineData("add")]
    [InlineData("sub")]
    [InlineData("mul")]
    [InlineData("div")]
    public void Binary_ops_match_reference_for_broadcasts_layouts_and_simd_levels(string op)
    {
        var rng = new Rng(7);
        foreach (var pair in BroadcastPairs)
        {
            foreach (bool swap in new[] { false, true })
            {
                var sa = swap ? pair[1] : pair[0];
                var sb = swap ? pair[0] : pair[1];
                var a = Rand(rng, sa);
                var b = op == "div" ? RandPos(rng, 0.5f, 2f, sb) : Rand(rng, sb);
                var outShape = Tensor.BroadcastShapes(sa, sb, op);
                var expected = Indices(outShape).Select(i => Ref(op, AtBroadcast(a, i), AtBroadcast(b, i))).ToArray();
                foreach (var (la, ta) in Layouts(a, rng))
                    foreach (var (lb, tb) in Layouts(b, rng))
                        AtEachLevel(level =>
                        {
                            var c = Apply(op, ta, tb);
                            Assert.Equal(outShape, c.Shape);
                            Assert.True(c.IsContiguous);
                            AssertClose(expected, c, 1e-6, 1e-7, $"{op} {Tensor.ShapeToString(sa)}({la}) {Tensor.ShapeToString(sb)}({lb}) at {level}");
                        });
            }
        }
    }

    [Fact]
    public void Expanded_operands_broadcast_like_their_source()
    {
        var rng = new Rng(3);
        var row = Rand(rng, 1, 29);
        var e = row.Expand(6, 29);
        var x = Rand(rng, 6, 29);
        var expected = (x + row).ToArray();
        AtEachLevel(_ => Assert.Equal(expected, (x + e).ToArray()));
        // Both operands expanded views.
        var col = Rand(rng, 6, 1);
        var r = row.Expand(6, 29) * col.Expand(6, 29);
        Assert.Equal((row * col).ToArray(), r.ToArray());
    }

    [Fact]
    public void Scalar_ops_and_operators()
    {
        var rng = new Rng(5);
        var a = Rand(rng, 4, 37);
        var av = a.ToArray();
        foreach (var (la, t) in Layouts(a, rng))
            AtEachLevel(level =>
            {
                AssertClose(av.Select(v => v + 2.5f).ToArray(), t + 2.5f, 1e-7, 0, $"add scalar {la} {level}");
                AssertClose(av.Select(v => v - 1f).ToArray(), t - 1f, 1e-7, 0, $"sub scalar {la}");
                AssertClose(av.Select(v => v * -3f).ToArray(), -3f * t, 1e-7, 0, $"mul scalar {la}");
                AssertClose(av.Select(v => v / 4f).ToArray(), t / 4f, 1e-7, 0, $"div scalar {la}");
                AssertClose(av.Select(v => -v).ToArray(), -t, 0, 0, $"neg {la}");
            });
    }

    public static TheoryData<string> UnaryNames => new() { "exp", "log", "sqrt", "pow2", "pow3", "pow0.5", "pow-0.5", "pow-1", "pow1.7", "pow0", "abs", "clamp" };

    private static Tensor ApplyUnary(string op, Tensor x) => op switch
    {
        "exp" => x.Exp(),
        "log" => x.Log(),
        "sqrt" => x.Sqrt(),
        "abs" => x.Abs(),
        "clamp" => x.Clamp(-0.3f, 0.45f),
        _ => x.Pow(float.Parse(op[3..], System.Globalization.CultureInfo.InvariantCulture)),
    };

    private static double RefUnary(string op, double x) => op switch
    {
        "exp" => Math.Exp(x),
        "log" => Math.Log(x),
        "sqrt" => Math.Sqrt(x),
        "abs" => Math.Abs(x),
        "clamp" => Math.Clamp(x, -0.3, 0.45),
        _ => Math.Pow(x, double.Parse(op[3..], System.Globalization.CultureInfo.InvariantCulture)),
    };

    [Theory]
    [MemberData(nameof(UnaryNames))]
    public void Unary_ops_match_reference_for_layouts_and_simd_levels(string op)
    {
        var rng = new Rng(11);
        bool positive = op is "log" or "sqrt" || op.StartsWith("pow", StringComparison.Ordinal);
        foreach (var shape in new[] { new[] { 3, 53 }, [2, 5, 7], [1], [] })
        {
            var x = positive ? RandPos(rng, 0.05f, 3f, shape) : Rand(rng, shape).Mul_(4f);
            var expected = x.ToArray().Select(v => (float)RefUnary(op, v)).ToArray();
            foreach (var (l, t) in Layouts(x, rng))
                AtEachLevel(level =>
                {
                    var y = ApplyUnary(op, t);
                    Assert.Equal(shape, y.Shape);
                    AssertClose(expected, y, 3e-6, 1e-7, $"{op} {Tensor.ShapeToString(shape)} {l} {level}");
                });
        }
    }

    [Fact]
    public void Exp_and_log_follow_ieee_edge_cases()
    {
        var x = Tensor.FromArray([0f, -200f, 100f, float.NegativeInfinity, float.NaN], 5);
        AtEachLevel(_ =>
        {
            var e = x.Exp().ToArray();
            Assert.Equal(1f, e[0], 6);
            Assert.Equal(0f, e[1]);
            Assert.True(float.IsPositiveInfinity(e[2]));
            Assert.Equal(0f, e[3]);
            Assert.True(float.IsNaN(e[4]));
            var l = Tensor.FromArray([0f, -1f, 1f, float.PositiveInfinity], 4).Log().ToArray();
            Assert.True(float.IsNegativeInfinity(l[0]));
            Assert.True(float.IsNaN(l[1]));
            Assert.Equal(0f, l[2]);
            Assert.True(float.IsPositiveInfinity(l[3]));
        });
    }

    [Fact]
    public void Clamp_keeps_nan_and_abs_of_negative_zero()
    {
        var y = Tensor.FromArray([float.NaN, -5f, 5f, 0.1f], 4).Clamp(-1, 1).ToArray();
        Assert.True(float.IsNaN(y[0]));
        Assert.Equal([-1f, 1f, 0.1f], y[1..]);
    }

    [Fact]
    public void In_place_helpers_update_views_and_broadcast()
    {
        var rng = new Rng(2);
        var x = Rand(rng, 5, 33);
        var b = Rand(rng, 33);
        var expected = Indices([5, 33]).Select(i => x[i] + 0.5f * b[i[1]]).ToArray();
        AtEachLevel(_ =>
        {
            var y = x.Clone();
            Assert.Same(y, y.Add_(b, 0.5f));
            AssertClose(expected, y, 1e-6, 1e-7, "add_ alpha");
        });

        // On a non-contiguous view only the viewed elements change.
        var big = Tensor.Zeros(4, 6);
        var view = big.Narrow(1, 1, 3).T;
        view.Add_(Tensor.Ones(3, 4)).Mul_(3f).Add_(1f);
        Assert.Equal(24, big.Numel);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 6; j++)
                Assert.Equal(j is >= 1 and <= 3 ? 4f : 0f, big[i, j]);

        var m = Tensor.Full(2f, 2, 3);
        m.Mul_(Tensor.FromArray([1, 2, 3], 3));
        Assert.Equal([2f, 4, 6, 2, 4, 6], m.ToArray());
        m.Clamp_(3, 5);
        Assert.Equal([3f, 4, 5, 3, 4, 5], m.ToArray());
        m.Zero_();
        Assert.All(m.ToArray(), v => Assert.Equal(0f, v));

        var ex = Assert.Throws<ShapeException>(() => Tensor.Ones(3).Add_(Tensor.Ones(2, 3)));
        Assert.Contains("add_", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Equal_and_all_close()
    {
        var a = Tensor.FromArray([1, 2, 3], 3);
        Assert.True(Tensor.Equal(a, a.Clone()));
        Assert.False(Tensor.Equal(a, a.Reshape(3, 1)));
        Assert.False(Tensor.Equal(a, a + 1e-3f));
        Assert.True(Tensor.AllClose(a, a + 1e-6f, rtol: 1e-5f));
        Assert.False(Tensor.AllClose(a, a + 1e-2f));
        var n = Tensor.FromArray([float.NaN], 1);
        Assert.False(Tensor.AllClose(n, n));
        Assert.True(Tensor.AllClose(n, n, equalNan: true));
    }

    [Fact]
    public void Broadcast_errors_name_op_and_shapes()
    {
        var a = Tensor.Ones(2, 3);
        var b = Tensor.Ones(4);
        Assert.Equal("add: shapes [2, 3] and [4] cannot be broadcast", Assert.Throws<ShapeException>(() => a + b).Message);
        Assert.Equal("sub: shapes [2, 3] and [4] cannot be broadcast", Assert.Throws<ShapeException>(() => a - b).Message);
        Assert.Equal("mul: shapes [2, 3] and [4] cannot be broadcast", Assert.Throws<ShapeException>(() => a * b).Message);
        Assert.Equal("div: shapes [2, 3] and [4] cannot be broadcast", Assert.Throws<ShapeException>(() => a / b).Message);
    }

    [Fact]
    public void Large_broadcast_and_strided_problems_match_reference()
    {
        // Above the parallel threshold: split over the workers by rows (rank ≥ 2) or chunks (rank 1).
        var rng = new Rng(10);
        var x = Rand(rng, 1031, 257);
        var bias = Rand(rng, 257);
        var xt = Rand(rng, 257, 1031).T;
        var expected = Indices([1031, 257]).Select(i => x[i] * bias[i[1]] - xt[i]).ToArray();
        AtEachLevel(level =>
        {
            AssertClose(expected, x * bias - xt, 1e-6, 1e-7, $"large broadcast at {level}");
            var e = xt.Exp();
            Assert.True(e.IsContiguous);
            AssertClose(Indices([1031, 257]).Select(i => MathF.Exp(xt[i])).ToArray(), e, 2e-6, 0, $"large strided exp at {level}");
        });
    }

    [Fact]
    public void Large_contiguous_tensors_use_every_path_consistently()
    {
        var rng = new Rng(9);
        var a = Rand(rng, 300001);
        var b = Rand(rng, 300001);
        float[]? reference = null;
        AtEachLevel(_ =>
        {
            var c = (a * b + a).ToArray();
            reference ??= c;
            Assert.Equal(reference, c);
        });
    }
}
