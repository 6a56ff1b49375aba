using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VitSharp.Imaging.Jpeg;

/// <summary>
/// Baseline and progressive Huffman JPEG decoder that reproduces libjpeg-turbo's output as PIL uses it:
/// islow integer IDCT, "fancy" triangle upsampling (h2v1, h1v2, h2v2), libjpeg's integer YCbCr→RGB tables,
/// Adobe CMYK/YCCK converted to RGB the way PIL converts its inverted CMYK. EXIF orientation is applied.
/// Every length and offset is checked before use; any problem raises <see cref="InvalidImageException"/>.
/// </summary>
internal sealed unsafe partial class JpegDecoder
{
    private sealed class Component
    {
        public int Id, H, V, Tq;
        public int CompW, CompH;          // downsampled size in samples
        public int BlocksW, BlocksH;      // blocks that cover the component
        public int BlocksWPad, BlocksHPad; // blocks that cover whole MCUs
        public short[]? Coeffs;           // natural order, 64 per block (coefficient mode)
        public byte[] Plane = [];         // BlocksWPad*8 wide
        public byte[]? PlaneOrNull => Plane.Length == 0 ? null : Plane;
        public int PlaneStride;
        public int DcPred;
        public int DcTable, AcTable;
        public ushort[]? Quant;           // latched at the first scan that holds the component
        // Pointers into the arrays above, which are allocated on the pinned heap.
        public byte* PlanePtr;
        public short* CoeffPtr;
        public ushort* QuantPtr;
        public int* QuantInt;             // the same table widened, for the SIMD IDCT
        public short[]? ColSums;          // upsampler scratch: column sums with one edge copy each side
    }

    // Zig-zag to natural order, with 16 extra entries so corrupt runs past 63 stay in the block (as libjpeg does).
    private static readonly int[] NaturalOrder =
    [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
        35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
        63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
    ];

    private const int MaxScans = 1000;

    private readonly byte* _data;
    private readonly int _len;
    private readonly string? _name;
    private readonly DecodeOptions _opt;
    private int _pos;

    private readonly ushort[]?[] _qt = new ushort[4][];
    private readonly JpegHuffmanTable?[] _dcTables = new JpegHuffmanTable[4];
    private readonly JpegHuffmanTable?[] _acTables = new JpegHuffmanTable[4];
    private Component[] _comps = [];
    private int _width, _height, _maxH, _maxV, _mcusX, _mcusY;
    private bool _progressive, _frameSeen, _coeffMode, _directDone;
    private int _restartInterval;
    private bool _sawJfif, _sawAdobe;
    private int _adobeTransform = -1;
    private int _orientation = 1;
    private int _scans;
    private readonly bool _simd = JpegSimd.Supported && Kernels.Cpu.Level >= Kernels.SimdLevel.Vector256;
    private readonly List<int[]> _quantInts = [];

    // Bit reader state.
    private ulong _buf;
    private int _bits;
    private int _padBits;
    private bool _markerHit;
    private int _eobrun;

    private JpegDecoder(byte* data, int len, string? name, DecodeOptions opt)
    {
        _data = data;
        _len = len;
        _name = name;
        _opt = opt;
    }

    public static Image Decode(ReadOnlySpan<byte> data, string? name, DecodeOptions opt)
    {
        fixed (byte* p = data)
        {
            var d = new JpegDecoder(p, data.Length, name, opt);
            var img = d.Run();
            // Only a successful decode hands its scratch back: an exception may leave it half-written, which
            // is harmless (planes are fully rewritten, coefficients re-zeroed) but not worth the bookkeeping.
            JpegScratch.Return(d._comps.Select(c => c.PlaneOrNull).ToArray(), d._comps.Select(c => c.Coeffs).ToArray());
            return img;
        }
    }

    private InvalidImageException Fail(string what) => new(_name, "JPEG: " + what);

    private int ReadU16()
    {
        if (_pos + 2 > _len) throw Fail("truncated in a marker segment");
        int v = (_data[_pos] << 8) | _data[_pos + 1];
        _pos += 2;
        return v;
    }

    private Image Run()
    {
        if (_len < 4 || _data[0] != 0xFF || _data[1] != 0xD8) throw Fail("missing SOI marker (not a JPEG file)");
        _pos = 2;
        bool done = false;
        while (!done)
        {
            int marker = NextMarker();
            if (marker < 0)
            {
                // Missing EOI: acceptable only when a sequential frame has been fully decoded.
                if (_frameSeen && !_progressive && _scans > 0 && (_directDone || _coeffMode)) break;
                throw Fail(_frameSeen ? "file is truncated (no EOI marker)" : "file is truncated before the image data");
            }
            switch (marker)
            {
                case 0xD8: throw Fail("unexpected second SOI marker");
                case 0xD9: done = true; break;
                case 0xC0:
                case 0xC1:
                case 0xC2:
                    ReadFrame(marker == 0xC2);
                    break;
                case 0xC3: throw Fail("lossless JPEG (SOF3) is not supported");
                case 0xC5:
                case 0xC6:
                case 0xC7:
                    throw Fail("hierarchical JPEG is not supported");
                case 0xC9:
                case 0xCA:
                case 0xCB:
                case 0xCD:
                case 0xCE:
                case 0xCF:
                    throw Fail("arithmetic-coded JPEG is not supported");
                case 0xC4: ReadHuffmanTables(); break;
                case 0xCC: throw Fail("arithmetic-coded JPEG (DAC marker) is not supported");
                case 0xDB: ReadQuantTables(); break;
                case 0xDD:
                    {
                        int l = ReadU16();
                        if (l != 4) throw Fail($"DRI segment length {l}, expected 4");
                        _restartInterval = ReadU16();
                        break;
                    }
                case 0xDA: ReadScan(); break;
                case 0xDC: throw Fail("DNL marker (height defined after the scan) is not supported");
                case >= 0xD0 and <= 0xD7: break; // stray RST outside a scan: ignore like libjpeg
                case 0xE0: ReadApp0(); break;
                case 0xE1: ReadApp1(); break;
                case 0xEE: ReadApp14(); break;
                default:
                    if (marker is 0x01 or (>= 0xC0 and <= 0xFE)) SkipSegment();
                    else throw Fail($"unknown marker 0xFF{marker:X2}");
                    break;
            }
        }
        if (!_frameSeen) throw Fail("no frame (SOF) before EOI");
        if (_scans == 0) throw Fail("no image data (no SOS) before EOI");
        return Finish();
    }

    /// <summary>Finds the next marker, skipping garbage bytes (libjpeg warns and resyncs the same way); -1 at end of data.</summary>
    private int NextMarker()
    {
        while (true)
        {
            while (_pos < _len && _data[_pos] != 0xFF) _pos++;
            while (_pos < _len && _data[_pos] == 0xFF) _pos++;
            if (_pos >= _len) return -1;
            int m = _data[_pos++];
            if (m != 0) return m;
        }
    }

    private void SkipSegment()
    {
        int l = ReadU16();
        if (l < 2 || _pos + l - 2 > _len) throw Fail("marker segment runs past the end of the file");
        _pos += l - 2;
    }

    private ReadOnlySpan<byte> SegmentBody()
    {
        int l = ReadU16();
        if (l < 2 || _pos + l - 2 > _len) throw Fail("marker segment runs past the end of the file");
        var s = new ReadOnlySpan<byte>(_data + _pos, l - 2);
        _pos += l - 2;
        return s;
    }

    private void ReadApp0()
    {
        var s = SegmentBody();
        if (s.Length >= 14 && s[0] == 'J' && s[1] == 'F' && s[2] == 'I' && s[3] == 'F' && s[4] == 0) _sawJfif = true;
    }

    private void ReadApp14()
    {
        var s = SegmentBody();
        if (s.Length >= 12 && s[0] == 'A' && s[1] == 'd' && s[2] == 'o' && s[3] == 'b' && s[4] == 'e')
        {
            _sawAdobe = true;
            _adobeTransform = s[11];
        }
    }

    private bool _sawExif;

    private void ReadApp1()
    {
        var s = SegmentBody();
        if (_sawExif || s.Length < 6 || s[0] != 'E' || s[1] != 'x' || s[2] != 'i' || s[3] != 'f' || s[4] != 0 || s[5] != 0) return;
        _sawExif = true; // PIL uses the first Exif segment only
        _orientation = ExifOrientation.Parse(s[6..]);
    }

    private void ReadQuantTables()
    {
        var s = SegmentBody();
        int p = 0;
        while (p < s.Length)
        {
            int pq = s[p] >> 4, tq = s[p] & 15;
            p++;
            if (tq > 3) throw Fail($"quantisation table id {tq} out of range 0..3");
            if (pq > 1) throw Fail($"quantisation table precision {pq} is invalid");
            int need = pq == 0 ? 64 : 128;
            if (p + need > s.Length) throw Fail("DQT segment is too short");
            var t = new ushort[64];
            for (int i = 0; i < 64; i++)
            {
                t[NaturalOrder[i]] = pq == 0 ? s[p + i] : (ushort)((s[p + 2 * i] << 8) | s[p + 2 * i + 1]);
            }
            p += need;
            _qt[tq] = t;
        }
    }

    private void ReadHuffmanTables()
    {
        var s = SegmentBody();
        int p = 0;
        while (p < s.Length)
        {
            if (p + 17 > s.Length) throw Fail("DHT segment is too short");
            int tc = s[p] >> 4, th = s[p] & 15;
            if (tc > 1 || th > 3) throw Fail($"Huffman table class {tc} / id {th} out of range");
            var counts = s.Slice(p + 1, 16);
            int total = 0;
            foreach (byte c in counts) total += c;
            if (total > 256) throw Fail("Huffman table has more than 256 symbols");
            p += 17;
            if (p + total > s.Length) throw Fail("DHT segment is too short for its symbols");
            var vals = s.Slice(p, total);
            p += total;
            if (tc == 0)
                foreach (byte v in vals)
                    if (v > 15) throw Fail("DC Huffman table has a symbol above 15");
            var t = JpegHuffmanTable.Build(counts, vals, out string? err);
            if (err != null) throw Fail(err);
            if (tc == 0) _dcTables[th] = t; else _acTables[th] = t;
        }
    }

    private void ReadFrame(bool progressive)
    {
        if (_frameSeen) throw Fail("more than one frame (SOF) marker");
        var s = SegmentBody();
        if (s.Length < 6) throw Fail("SOF segment is too short");
        int precision = s[0];
        if (precision != 8) throw Fail($"{precision}-bit JPEG is not supported (only 8-bit)");
        int h = (s[1] << 8) | s[2], w = (s[3] << 8) | s[4], nf = s[5];
        if (h == 0) throw Fail("image height 0 (DNL) is not supported");
        if (w == 0) throw Fail("image width is 0");
        if (nf is not (1 or 3 or 4)) throw Fail($"{nf} colour components are not supported (1, 3 or 4)");
        if (s.Length < 6 + 3 * nf) throw Fail("SOF segment is too short for its components");
        ImageFormatUtil.CheckSize(_name, "JPEG", w, h, _opt);
        _width = w;
        _height = h;
        _progressive = progressive;
        _comps = new Component[nf];
        for (int i = 0; i < nf; i++)
        {
            var c = new Component { Id = s[6 + 3 * i], H = s[7 + 3 * i] >> 4, V = s[7 + 3 * i] & 15, Tq = s[8 + 3 * i] };
            if (c.H is < 1 or > 4 || c.V is < 1 or > 4) throw Fail($"component {i} has sampling factors {c.H}x{c.V} (1..4 allowed)");
            if (c.Tq > 3) throw Fail($"component {i} uses quantisation table {c.Tq} (0..3 allowed)");
            for (int j = 0; j < i; j++)
                if (_comps[j].Id == c.Id) throw Fail($"duplicate component id {c.Id}");
            _comps[i] = c;
        }
        _maxH = _comps.Max(c => c.H);
        _maxV = _comps.Max(c => c.V);
        _mcusX = (w + 8 * _maxH - 1) / (8 * _maxH);
        _mcusY = (h + 8 * _maxV - 1) / (8 * _maxV);
        foreach (var c in _comps)
        {
            if (_maxH % c.H != 0 || _maxV % c.V != 0)
                throw Fail($"fractional sampling ratio {_maxH}/{c.H} x {_maxV}/{c.V} is not supported");
            c.CompW = (int)(((long)w * c.H + _maxH - 1) / _maxH);
            c.CompH = (int)(((long)h * c.V + _maxV - 1) / _maxV);
            c.BlocksW = (c.CompW + 7) / 8;
            c.BlocksH = (c.CompH + 7) / 8;
            c.BlocksWPad = _mcusX * c.H;
            c.BlocksHPad = _mcusY * c.V;
        }
        // Every block costs at least one bit in any valid file (its DC code), so a file this short
        // cannot hold the image it declares: refuse it before allocating buffers for that size.
        long blocks = 0;
        foreach (var c in _comps) blocks += (long)c.BlocksW * c.BlocksH;
        if ((long)_len * 8 < blocks) throw Fail($"file is truncated: {_len} bytes cannot hold a {w}x{h} image");
        _frameSeen = true;
    }

    private void AllocatePlanes()
    {
        foreach (var c in _comps)
        {
            c.PlaneStride = c.BlocksWPad * 8;
            long n = (long)c.PlaneStride * c.BlocksHPad * 8;
            if (n > int.MaxValue) throw Fail("image too large");
            c.Plane = JpegScratch.RentPlane(Array.IndexOf(_comps, c), (int)n);
            c.PlanePtr = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(c.Plane));
        }
    }

    private void ReadScan()
    {
        if (!_frameSeen) throw Fail("scan (SOS) before the frame header (SOF)");
        var s = SegmentBody();
        if (s.Length < 1) throw Fail("SOS segment is too short");
        int ns = s[0];
        if (ns is < 1 or > 4 || s.Length < 4 + 2 * ns) throw Fail($"SOS segment with {ns} components is malformed");
        if (++_scans > MaxScans) throw Fail($"more than {MaxScans} scans");
        var sc = new Component[ns];
        for (int i = 0; i < ns; i++)
        {
            int id = s[1 + 2 * i];
            var c = Array.Find(_comps, x => x.Id == id) ?? throw Fail($"scan refers to unknown component id {id}");
            for (int j = 0; j < i; j++)
                if (sc[j] == c) throw Fail($"scan lists component {id} twice");
            c.DcTable = s[2 + 2 * i] >> 4;
            c.AcTable = s[2 + 2 * i] & 15;
            if (c.DcTable > 3 || c.AcTable > 3) throw Fail("scan selects a Huffman table id above 3");
            sc[i] = c;
        }
        int ss = s[1 + 2 * ns], se = s[2 + 2 * ns], ah = s[3 + 2 * ns] >> 4, al = s[3 + 2 * ns] & 15;

        if (ns > 1)
        {
            int blocks = 0;
            foreach (var c in sc) blocks += c.H * c.V;
            if (blocks > 10) throw Fail($"MCU of {blocks} blocks exceeds the limit of 10");
        }
        foreach (var c in sc)
        {
            if (c.Quant == null)
            {
                var q = _qt[c.Tq] ?? throw Fail($"component {c.Id} uses quantisation table {c.Tq}, which is not defined");
                c.Quant = GC.AllocateUninitializedArray<ushort>(64, pinned: true);
                q.CopyTo(c.Quant, 0);
                c.QuantPtr = (ushort*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(c.Quant));
                var qi = GC.AllocateUninitializedArray<int>(64, pinned: true);
                for (int i = 0; i < 64; i++) qi[i] = q[i];
                _quantInts.Add(qi);
                c.QuantInt = (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(qi));
            }
        }

        if (_progressive)
        {
            bool bad = ss == 0 ? se != 0 : (se < ss || se > 63 || ns != 1);
            if (ah != 0 && al != ah - 1) bad = true;
            if (al > 13) bad = true;
            if (bad) throw Fail($"invalid progressive scan parameters Ss={ss} Se={se} Ah={ah} Al={al}");
        }

        if (_comps[0].Plane.Length == 0)
        {
            AllocatePlanes();
            PrepareOutput();
            _coeffMode = _progressive || ns != _comps.Length;
            if (_coeffMode)
                foreach (var c in _comps)
                {
                    c.Coeffs = JpegScratch.RentCoeffs(Array.IndexOf(_comps, c), c.BlocksWPad * c.BlocksHPad * 64);
                    c.CoeffPtr = (short*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(c.Coeffs));
                }
        }
        else if (!_coeffMode)
        {
            // A sequential file whose first scan already held every component: later scans add nothing we keep.
            SkipEntropyData();
            return;
        }

        foreach (var c in sc)
        {
            bool needDc = !_progressive || ss == 0;
            bool needAc = !_progressive || ss > 0;
            if (needDc && ah == 0 && _dcTables[c.DcTable] == null) throw Fail($"scan uses DC Huffman table {c.DcTable}, which is not defined");
            if (needAc && _acTables[c.AcTable] == null) throw Fail($"scan uses AC Huffman table {c.AcTable}, which is not defined");
        }

        DecodeScan(sc, ss, se, ah, al);
        if (!_coeffMode) _directDone = true;
    }

    private void SkipEntropyData()
    {
        while (true)
        {
            while (_pos < _len && _data[_pos] != 0xFF) _pos++;
            if (_pos + 1 >= _len) { _pos = _len; return; }
            byte n = _data[_pos + 1];
            if (n == 0 || (n >= 0xD0 && n <= 0xD7) || n == 0xFF) { _pos += n == 0xFF ? 1 : 2; continue; }
            return;
        }
    }

    // ---------------------------------------------------------------- bit reader

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Fill()
    {
        // Fast path: the next 8 bytes hold no 0xFF (no stuffing, no marker), so take whole bytes at once.
        if (!_markerHit && _pos + 8 <= _len && _bits <= 56)
        {
            ulong w = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(*(ulong*)(_data + _pos));
            ulong inv = ~w;
            if (((inv - 0x0101010101010101UL) & ~inv & 0x8080808080808080UL) == 0)
            {
                int n = (64 - _bits) >> 3;
                _buf |= (n == 8 ? w : w >> (64 - 8 * n)) << (64 - _bits - 8 * n);
                _pos += n;
                _bits += 8 * n;
                return;
            }
        }
        while (_bits <= 56)
        {
            uint b;
            if (_markerHit)
            {
                b = 0;
            }
            else if (_pos >= _len)
            {
                b = 0;
                _padBits += 8;
            }
            else
            {
                b = _data[_pos];
                if (b == 0xFF)
                {
                    int q = _pos + 1;
                    while (q < _len && _data[q] == 0xFF) q++;
                    if (q >= _len) { _pos = _len; b = 0; _padBits += 8; }
                    else if (_data[q] == 0) { _pos = q + 1; }
                    else { _pos = q - 1; _markerHit = true; b = 0; } // leave _pos on the marker's 0xFF
                }
                else _pos++;
            }
            _buf |= (ulong)b << (56 - _bits);
            _bits += 8;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int GetBits(int n)
    {
        if (_bits < n) Fill();
        int v = (int)(_buf >> (64 - n));
        _buf <<= n;
        _bits -= n;
        return v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int GetBit()
    {
        if (_bits < 1) Fill();
        int v = (int)(_buf >> 63);
        _buf <<= 1;
        _bits--;
        return v;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Extend(int v, int s) => v < (1 << (s - 1)) ? v - (1 << s) + 1 : v;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int DecodeHuff(JpegHuffmanTable t)
    {
        if (_bits < 16) Fill();
        int e = t.Lookup[(int)(_buf >> (64 - JpegHuffmanTable.LookBits))];
        if (e != 0)
        {
            int l = e >> 8;
            _buf <<= l;
            _bits -= l;
            return e & 0xFF;
        }
        return DecodeHuffSlow(t);
    }

    private int DecodeHuffSlow(JpegHuffmanTable t)
    {
        for (int l = JpegHuffmanTable.LookBits + 1; l <= 16; l++)
        {
            int code = (int)(_buf >> (64 - l));
            if (code <= t.MaxCode[l])
            {
                _buf <<= l;
                _bits -= l;
                int idx = code + t.ValOffset[l];
                if ((uint)idx > 255) throw Fail("corrupt data: bad Huffman code");
                return t.Values[idx];
            }
        }
        throw Fail("corrupt data: bad Huffman code");
    }

    private void ResetBits()
    {
        _buf = 0;
        _bits = 0;
        _padBits = 0;
    }

    private void CheckOverrun()
    {
        if (_padBits > _bits) throw Fail("file is truncated inside the image data");
    }

    /// <summary>At a restart point: drop leftover bits, find the marker and consume it if it is RSTn.</summary>
    private void ProcessRestart()
    {
        CheckOverrun();
        ResetBits();
        if (!_markerHit)
        {
            while (true)
            {
                while (_pos < _len && _data[_pos] != 0xFF) _pos++;
                if (_pos + 1 >= _len) { _pos = _len; break; }
                byte n = _data[_pos + 1];
                if (n == 0) { _pos += 2; continue; }
                if (n == 0xFF) { _pos++; continue; }
                _markerHit = true;
                break;
            }
        }
        if (_markerHit && _pos + 1 < _len && _data[_pos + 1] is >= 0xD0 and <= 0xD7)
        {
            _pos += 2;
            _markerHit = false;
        }
        foreach (var c in _comps) c.DcPred = 0;
        _eobrun = 0;
    }
}
