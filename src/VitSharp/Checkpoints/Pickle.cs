using System.Buffers.Binary;
using System.Text;

namespace VitSharp.Checkpoints;

/// <summary>A module.name reference from GLOBAL/STACK_GLOBAL; only allow-listed ones are ever created.</summary>
public sealed record PyGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
    public override string ToString() => FullName;
}

/// <summary>A Python dict or OrderedDict (insertion order kept).</summary>
public sealed class PyDict
{
    public List<KeyValuePair<object?, object?>> Items { get; } = [];

    // Index of value-type keys (strings, ints) so a pickle with millions of SETITEMS stays linear, not quadratic.
    private readonly Dictionary<object, int> index = [];

    public void Set(object? key, object? value)
    {
        if (key is string or long or bool or double)
        {
            if (index.TryGetValue(key, out int at)) Items[at] = new(key, value);
            else
            {
                index[key] = Items.Count;
                Items.Add(new(key, value));
            }
            return;
        }
        // Other keys (tuples, None) compare by reference, as they have no value identity here.
        Items.Add(new(key, value));
    }

    public object? Get(string key) => index.TryGetValue(key, out int at) ? Items[at].Value : null;
}

/// <summary>A persistent-id storage reference: record data/&lt;Key&gt; holds Numel elements of DType.</summary>
public sealed record StorageRef(string Key, DType DType, long Numel);

/// <summary>A tensor view into a storage (torch._utils._rebuild_tensor_v2 arguments).</summary>
public sealed record TensorRef(StorageRef Storage, long Offset, int[] Size, long[] Stride);

/// <summary>
/// A restricted unpickler (protocols 2–4) that understands exactly what torch.save writes for a state dict and
/// nothing else. It never imports or calls anything: GLOBAL only yields allow-listed names, and REDUCE/NEWOBJ/BUILD
/// are interpreted for those names alone. Any other global (os.system, builtins.eval, ...) is an error naming it.
/// </summary>
public sealed class RestrictedUnpickler
{
    private static readonly Dictionary<string, DType> StorageTypes = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = DType.F32,
        ["DoubleStorage"] = DType.F64,
        ["HalfStorage"] = DType.F16,
        ["BFloat16Storage"] = DType.BF16,
        ["LongStorage"] = DType.I64,
        ["IntStorage"] = DType.I32,
        ["ShortStorage"] = DType.I16,
        ["CharStorage"] = DType.I8,
        ["ByteStorage"] = DType.U8,
        ["BoolStorage"] = DType.Bool,
    };

    private static readonly HashSet<string> AllowedCallables = new(StringComparer.Ordinal)
    {
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
        "torch._tensor._rebuild_from_type_v2", "torch.nn.parameter.Parameter",
    };

    private sealed class MarkObj
    {
        public static readonly MarkObj Instance = new();
    }

    private readonly byte[] d;
    private readonly string where;
    private int pos;
    private readonly List<object?> stack = [];
    private readonly List<int> marks = [];
    private readonly Dictionary<long, object?> memo = [];

    private RestrictedUnpickler(byte[] data, string where)
    {
        d = data;
        this.where = where;
    }

    public static bool IsAllowedGlobal(string module, string name) =>
        AllowedCallables.Contains($"{module}.{name}") || (module == "torch" && StorageTypes.ContainsKey(name));

    /// <summary>Unpickles <paramref name="data"/>; <paramref name="where"/> names the file/record for errors.</summary>
    public static object? Load(byte[] data, string where) => new RestrictedUnpickler(data, where).Run();

    private CheckpointException Err(string msg) => new(where, msg);

    private object? Run()
    {
        while (true)
        {
            if (pos >= d.Length) throw Err("pickle ends without STOP (truncated)");
            int opAt = pos;
            byte op = d[pos++];
            switch (op)
            {
                case 0x80: // PROTO
                    {
                        int v = U8();
                        if (v > 5) throw Err($"unsupported pickle protocol {v}");
                        break;
                    }
                case 0x95: Bytes(8); break; // FRAME: framing is only a buffering hint
                case (byte)'.': // STOP
                    {
                        if (stack.Count != 1 || marks.Count != 0) throw Err("malformed pickle: stack not balanced at STOP");
                        return stack[0];
                    }
                case (byte)'c': // GLOBAL
                    {
                        string module = Line(), name = Line();
                        Push(MakeGlobal(module, name));
                        break;
                    }
                case 0x93: // STACK_GLOBAL
                    {
                        var name = Pop() as string;
                        var module = Pop() as string;
                        if (module == null || name == null) throw Err("malformed pickle: STACK_GLOBAL needs two strings");
                        Push(MakeGlobal(module, name));
                        break;
                    }
                case (byte)'i': // INST: module and name as text lines, then calls the class — refuse every one
                    {
                        string module = Line(), name = Line();
                        throw Refuse($"{module}.{name}", "INST");
                    }
                case (byte)'o': // OBJ: builds an arbitrary class instance
                    {
                        var items = PopMark();
                        string g = items.Count > 0 && items[0] is PyGlobal pg ? pg.FullName : "an object";
                        throw Refuse(g, "OBJ");
                    }
                case (byte)'q': Memo(U8()); break;
                case (byte)'r': Memo(U32()); break;
                case 0x94: Memo(memo.Count); break; // MEMOIZE
                case (byte)'h': Push(Recall(U8())); break;
                case (byte)'j': Push(Recall(U32())); break;
                case (byte)'(': marks.Add(stack.Count); break;
                case (byte)')': Push(Array.Empty<object?>()); break;
                case (byte)'t': Push(PopMark().ToArray()); break;
                case 0x85: Push(new[] { Pop() }); break;
                case 0x86: { var b = Pop(); var a = Pop(); Push(new[] { a, b }); break; }
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new[] { a, b, c }); break; }
                case (byte)']': Push(new List<object?>()); break;
                case (byte)'}': Push(new PyDict()); break;
                case 0x8f: Push(new HashSet<object?>()); break; // EMPTY_SET
                case 0x90: // ADDITEMS
                    {
                        var items = PopMark();
                        if (Top() is not HashSet<object?> set) throw Err("malformed pickle: ADDITEMS without a set");
                        foreach (var x in items) set.Add(x);
                        break;
                    }
                case (byte)'a':
                    {
                        var v = Pop();
                        if (Top() is not List<object?> list) throw Err("malformed pickle: APPEND without a list");
                        list.Add(v);
                        break;
                    }
                case (byte)'e':
                    {
                        var items = PopMark();
                        if (Top() is not List<object?> list) throw Err("malformed pickle: APPENDS without a list");
                        list.AddRange(items);
                        break;
                    }
                case (byte)'s':
                    {
                        var v = Pop();
                        var k = Pop();
                        if (Top() is not PyDict dict) throw Err("malformed pickle: SETITEM without a dict");
                        dict.Set(k, v);
                        break;
                    }
                case (byte)'u':
                    {
                        var items = PopMark();
                        if (items.Count % 2 != 0) throw Err("malformed pickle: SETITEMS with an odd item count");
                        if (Top() is not PyDict dict) throw Err("malformed pickle: SETITEMS without a dict");
                        for (int i = 0; i < items.Count; i += 2) dict.Set(items[i], items[i + 1]);
                        break;
                    }
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Bytes(4))); break;
                case (byte)'K': Push((long)U8()); break;
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Bytes(2))); break;
                case 0x8a: // LONG1
                    {
                        int n = U8();
                        if (n > 8) throw Err($"pickle integer of {n} bytes is too large");
                        var b = Bytes(n);
                        long v = 0;
                        for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
                        if (n > 0 && n < 8 && (b[n - 1] & 0x80) != 0) v -= 1L << (8 * n);
                        Push(v);
                        break;
                    }
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Bytes(8))); break;
                case (byte)'X': Push(Utf8(checked((int)Math.Min(U32(), int.MaxValue)))); break;
                case 0x8c: Push(Utf8(U8())); break; // SHORT_BINUNICODE
                case (byte)'U': Push(Encoding.Latin1.GetString(Bytes(U8()))); break; // SHORT_BINSTRING
                case (byte)'T': Push(Encoding.Latin1.GetString(Bytes(Len32()))); break; // BINSTRING
                case (byte)'S': // STRING (protocol 0): a quoted literal on one line; escapes are kept verbatim
                    {
                        var line = Line();
                        if (line.Length < 2 || (line[0] != '\'' && line[0] != '"') || line[^1] != line[0]) throw Err("malformed pickle STRING");
                        Push(line[1..^1]);
                        break;
                    }
                case (byte)'C': Push(Bytes(U8()).ToArray()); break; // SHORT_BINBYTES
                case (byte)'B': Push(Bytes(Len32()).ToArray()); break; // BINBYTES
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break;
                case 0x89: Push(false); break;
                case (byte)'0': Pop(); break; // POP
                case (byte)'1': PopMark(); break; // POP_MARK
                case (byte)'2': Push(Top()); break; // DUP
                case (byte)'Q': Push(PersistentLoad(Pop())); break; // BINPERSID
                case (byte)'R': // REDUCE
                    {
                        var args = Pop();
                        var fn = Pop();
                        Push(Call(fn, args as object?[] ?? throw Err("malformed pickle: REDUCE arguments are not a tuple")));
                        break;
                    }
                case 0x81: // NEWOBJ
                    {
                        var args = Pop();
                        var cls = Pop();
                        Push(Call(cls, args as object?[] ?? throw Err("malformed pickle: NEWOBJ arguments are not a tuple")));
                        break;
                    }
                case (byte)'b': // BUILD: state for OrderedDict (_metadata) or tensors; accepted and ignored
                    {
                        Pop();
                        var obj = Top();
                        if (obj is not (PyDict or TensorRef)) throw Err($"malformed pickle: BUILD on {Describe(obj)}");
                        break;
                    }
                default:
                    throw Err($"unsupported pickle opcode 0x{op:x2} at offset {opAt} (only the opcodes torch.save uses for state dicts are accepted)");
            }
        }
    }

    private CheckpointException Refuse(string global, string how) =>
        Err($"refusing to load: the pickle references the global '{global}' ({how}), which is not allowed in a state dict; " +
            "only OrderedDict, torch tensor/parameter rebuild functions and torch storage types are accepted (nothing was executed)");

    private PyGlobal MakeGlobal(string module, string name)
    {
        if (!IsAllowedGlobal(module, name)) throw Refuse($"{module}.{name}", "GLOBAL");
        return new PyGlobal(module, name);
    }

    private object? Call(object? fn, object?[] a, int depth = 0)
    {
        if (fn is not PyGlobal g) throw Err($"malformed pickle: call of {Describe(fn)}");
        if (depth > 8) throw Err("malformed pickle: nested tensor rebuild calls are too deep");
        switch (g.FullName)
        {
            case "collections.OrderedDict":
                if (a.Length != 0) throw Err("OrderedDict with constructor arguments is not supported");
                return new PyDict();
            case "torch._utils._rebuild_tensor_v2":
                {
                    if (a.Length < 6) throw Err("malformed _rebuild_tensor_v2 call");
                    if (a[0] is not StorageRef st) throw Err("_rebuild_tensor_v2: first argument is not a storage");
                    long offset = AsLong(a[1]);
                    var size = AsLongs(a[2]);
                    var stride = AsLongs(a[3]);
                    if (size.Length != stride.Length || size.Length > 32) throw Err("_rebuild_tensor_v2: size and stride differ in rank");
                    var isize = new int[size.Length];
                    long numel = 1;
                    for (int i = 0; i < size.Length; i++)
                    {
                        if (size[i] < 0 || size[i] > int.MaxValue || stride[i] < 0) throw Err("_rebuild_tensor_v2: negative or huge size/stride");
                        isize[i] = (int)size[i];
                        numel *= size[i];
                        if (numel > int.MaxValue) throw Err("_rebuild_tensor_v2: tensor too large");
                    }
                    if (offset < 0) throw Err("_rebuild_tensor_v2: negative storage offset");
                    if (numel > 0)
                    {
                        long last = offset;
                        for (int i = 0; i < size.Length; i++) last += (size[i] - 1) * stride[i];
                        if (last >= st.Numel) throw Err($"tensor view (offset {offset}, size [{string.Join(", ", size)}], stride [{string.Join(", ", stride)}]) reaches past its storage of {st.Numel} elements");
                    }
                    return new TensorRef(st, offset, isize, stride);
                }
            case "torch._utils._rebuild_parameter":
                if (a.Length < 1 || a[0] is not TensorRef) throw Err("malformed _rebuild_parameter call");
                return a[0];
            case "torch.nn.parameter.Parameter":
                if (a.Length < 1 || a[0] is not TensorRef) throw Err("malformed Parameter construction");
                return a[0];
            case "torch._tensor._rebuild_from_type_v2":
                {
                    // (func, new_type, args, state): rebuild with func(*args) and drop the subclass type.
                    if (a.Length < 3 || a[2] is not object?[] inner) throw Err("malformed _rebuild_from_type_v2 call");
                    return Call(a[0], inner, depth + 1);
                }
            default:
                throw Err($"refusing to call '{g.FullName}': only tensor rebuild functions and OrderedDict may be called");
        }
    }

    private StorageRef PersistentLoad(object? pid)
    {
        if (pid is not object?[] t || t.Length < 5 || t[0] is not string tag || tag != "storage")
            throw Err($"unsupported persistent id {Describe(pid)} (expected ('storage', type, key, location, numel))");
        if (t[1] is not PyGlobal g || g.Module != "torch" || !StorageTypes.TryGetValue(g.Name, out var dtype))
            throw Err($"unsupported storage type {Describe(t[1])}");
        string key = t[2] switch { string s => s, long l => l.ToString(System.Globalization.CultureInfo.InvariantCulture), _ => throw Err("storage key is not a string") };
        if (key.Length == 0 || key.Contains('/') || key.Contains('\\') || key.Contains(".."))
            throw Err($"invalid storage key '{key}'");
        long numel = AsLong(t[4]);
        if (numel < 0) throw Err("negative storage size");
        return new StorageRef(key, dtype, numel);
    }

    private long AsLong(object? o) => o switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw Err($"expected an integer, found {Describe(o)}"),
    };

    private long[] AsLongs(object? o)
    {
        if (o is not object?[] t) throw Err($"expected a tuple of integers, found {Describe(o)}");
        var r = new long[t.Length];
        for (int i = 0; i < t.Length; i++) r[i] = AsLong(t[i]);
        return r;
    }

    private static string Describe(object? o) => o switch
    {
        null => "None",
        PyGlobal g => g.FullName,
        object?[] t => $"tuple({t.Length})",
        string s => $"'{(s.Length > 40 ? s[..40] : s)}'",
        _ => o.GetType().Name,
    };

    private void Push(object? o) => stack.Add(o);

    private object? Pop()
    {
        if (stack.Count == 0 || (marks.Count > 0 && marks[^1] >= stack.Count)) throw Err($"malformed pickle: stack underflow at offset {pos - 1}");
        var o = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        return o;
    }

    private object? Top()
    {
        if (stack.Count == 0) throw Err($"malformed pickle: empty stack at offset {pos - 1}");
        return stack[^1];
    }

    private List<object?> PopMark()
    {
        if (marks.Count == 0) throw Err($"malformed pickle: missing MARK at offset {pos - 1}");
        int m = marks[^1];
        marks.RemoveAt(marks.Count - 1);
        var items = stack.GetRange(m, stack.Count - m);
        stack.RemoveRange(m, stack.Count - m);
        return items;
    }

    private void Memo(long idx) => memo[idx] = Top();

    private object? Recall(long idx) => memo.TryGetValue(idx, out var v) ? v : throw Err($"malformed pickle: memo {idx} not defined");

    private int U8()
    {
        if (pos >= d.Length) throw Err("pickle truncated");
        return d[pos++];
    }

    private uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4));

    private int Len32()
    {
        int n = BinaryPrimitives.ReadInt32LittleEndian(Bytes(4));
        if (n < 0) throw Err("negative length in pickle");
        return n;
    }

    private ReadOnlySpan<byte> Bytes(int n)
    {
        if (n < 0 || n > d.Length - pos) throw Err($"pickle truncated (needs {n} bytes at offset {pos})");
        var s = d.AsSpan(pos, n);
        pos += n;
        return s;
    }

    private string Utf8(int n)
    {
        try { return new UTF8Encoding(false, true).GetString(Bytes(n)); }
        catch (DecoderFallbackException) { throw Err("invalid UTF-8 string in pickle"); }
    }

    private string Line()
    {
        int end = Array.IndexOf(d, (byte)'\n', pos);
        if (end < 0 || end - pos > 1000) throw Err("pickle truncated or overlong text line (GLOBAL/STRING)");
        var s = Encoding.ASCII.GetString(d, pos, end - pos);
        pos = end + 1;
        return s;
    }
}

/// <summary>Writes the protocol-2 pickle torch.save produces for an OrderedDict of tensors.</summary>
internal static class PickleWriter
{
    public static byte[] StateDict(IReadOnlyList<(string Name, string StorageType, string Key, int[] Shape)> tensors)
    {
        var ms = new MemoryStream();
        ms.Write([0x80, 2]);
        Global(ms, "collections", "OrderedDict");
        ms.WriteByte((byte)')');
        ms.WriteByte((byte)'R');
        ms.WriteByte((byte)'(');
        foreach (var (name, stype, key, shape) in tensors)
        {
            Str(ms, name);
            Global(ms, "torch._utils", "_rebuild_tensor_v2");
            ms.WriteByte((byte)'(');
            // persistent id ('storage', torch.FloatStorage, key, 'cpu', numel)
            ms.WriteByte((byte)'(');
            Str(ms, "storage");
            Global(ms, "torch", stype);
            Str(ms, key);
            Str(ms, "cpu");
            Int(ms, RawArray.NumelOf(shape));
            ms.WriteByte((byte)'t');
            ms.WriteByte((byte)'Q');
            Int(ms, 0);
            ms.WriteByte((byte)'(');
            foreach (var x in shape) Int(ms, x);
            ms.WriteByte((byte)'t');
            ms.WriteByte((byte)'(');
            foreach (var x in VitSharp.Tensors.Tensor.ContiguousStrides(shape)) Int(ms, x);
            ms.WriteByte((byte)'t');
            ms.WriteByte(0x89);
            Global(ms, "collections", "OrderedDict");
            ms.WriteByte((byte)')');
            ms.WriteByte((byte)'R');
            ms.WriteByte((byte)'t');
            ms.WriteByte((byte)'R');
        }
        ms.WriteByte((byte)'u');
        ms.WriteByte((byte)'.');
        return ms.ToArray();
    }

    private static void Global(Stream s, string module, string name)
    {
        s.WriteByte((byte)'c');
        s.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
    }

    private static void Str(Stream s, string v)
    {
        var b = Encoding.UTF8.GetBytes(v);
        s.WriteByte((byte)'X');
        Span<byte> n = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(n, b.Length);
        s.Write(n);
        s.Write(b);
    }

    private static void Int(Stream s, long v)
    {
        if (v >= int.MinValue && v <= int.MaxValue)
        {
            s.WriteByte((byte)'J');
            Span<byte> n = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(n, (int)v);
            s.Write(n);
        }
        else
        {
            s.Write([0x8a, 8]);
            Span<byte> n = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(n, v);
            s.Write(n);
        }
    }
}
