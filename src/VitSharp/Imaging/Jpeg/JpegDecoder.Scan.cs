using System.Runtime.CompilerServices;

namespace VitSharp.Imaging.Jpeg;

internal sealed unsafe partial class JpegDecoder
{
    private void DecodeScan(Component[] sc, int ss, int se, int ah, int al)
    {
        ResetBits();
        _markerHit = false;
        _eobrun = 0;
        foreach (var c in _comps) c.DcPred = 0;

        short* block = stackalloc short[64];

        int restartsLeft = _restartInterval;
        if (sc.Length == 1)
        {
            var c = sc[0];
            int total = c.BlocksW * c.BlocksH;
            int n = 0;
            for (int by = 0; by < c.BlocksH; by++)
            {
                for (int bx = 0; bx < c.BlocksW; bx++, n++)
                {
                    if (_restartInterval != 0)
                    {
                        if (restartsLeft == 0) { ProcessRestart(); restartsLeft = _restartInterval; }
                        restartsLeft--;
                    }
                    DecodeBlock(c, bx, by, block, ss, se, ah, al);
                }
                CheckOverrun();
                if (!_coeffMode && _comps.Length == 1) EmitRows((by + 1) * 8);
            }
            _ = total;
            _ = n;
        }
        else
        {
            for (int my = 0; my < _mcusY; my++)
            {
                for (int mx = 0; mx < _mcusX; mx++)
                {
                    if (_restartInterval != 0)
                    {
                        if (restartsLeft == 0) { ProcessRestart(); restartsLeft = _restartInterval; }
                        restartsLeft--;
                    }
                    foreach (var c in sc)
                        for (int v = 0; v < c.V; v++)
                            for (int h = 0; h < c.H; h++)
                                DecodeBlock(c, mx * c.H + h, my * c.V + v, block, ss, se, ah, al);
                }
                CheckOverrun();
                // Convert the rows this MCU row completed while they are still in cache.
                if (!_coeffMode) EmitRows((my + 1) * 8 * _maxV);
            }
        }
        CheckOverrun();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void DecodeBlock(Component c, int bx, int by, short* tmp, int ss, int se, int ah, int al)
    {
        if (!_coeffMode)
        {
            new Span<short>(tmp, 64).Clear();
            byte* dst = c.PlanePtr + (long)by * 8 * c.PlaneStride + bx * 8;
            if (!DecodeSequential(c, tmp))
            {
                // DC-only block: both islow passes reduce to one constant (the zero-row shortcuts).
                ulong v = JpegIdct.RangePtr[(((tmp[0] * c.QuantPtr[0]) << 2) + 16 >> 5) & 1023] * 0x0101010101010101UL;
                for (int r = 0; r < 8; r++) *(ulong*)(dst + r * c.PlaneStride) = v;
            }
            else if (_simd) JpegSimd.Idct(tmp, c.QuantInt, dst, c.PlaneStride);
            else JpegIdct.Transform(tmp, c.QuantPtr, dst, c.PlaneStride, JpegIdct.RangePtr);
            return;
        }
        {
            short* blk = c.CoeffPtr + ((long)by * c.BlocksWPad + bx) * 64;
            if (!_progressive) DecodeSequential(c, blk);
            else if (ss == 0)
            {
                if (ah == 0) DecodeDcFirst(c, blk, al);
                else if (GetBit() != 0) blk[0] |= (short)(1 << al);
            }
            else if (ah == 0) DecodeAcFirst(c, blk, ss, se, al);
            else DecodeAcRefine(c, blk, ss, se, al);
        }
    }

    private static readonly int[] NaturalPinned = GC.AllocateArray<int>(80, pinned: true);
    private static readonly int* NaturalPtr = InitNatural();

    private static int* InitNatural()
    {
        NaturalOrder.CopyTo(NaturalPinned, 0);
        return (int*)Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(NaturalPinned));
    }

    /// <summary>Refills the bit buffer held in locals by the hot loop (rare: once per ~4 bytes consumed).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong Refill(ulong buf)
    {
        _buf = buf;
        Fill();
        return _buf;
    }

    /// <summary>Huffman-decodes one sequential block; returns whether any AC coefficient is non-zero.
    /// The bit buffer lives in locals here so the JIT keeps it in registers.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private bool DecodeSequential(Component c, short* blk)
    {
        var dc = _dcTables[c.DcTable]!;
        var ac = _acTables[c.AcTable]!;
        ulong buf = _buf;
        int bits = _bits;
        bool hasAc = false;
        int* nat = NaturalPtr;

        if (bits < 32) { _bits = bits; buf = Refill(buf); bits = _bits; }
        int s;
        int e = dc.Lookup[(int)(buf >> (64 - JpegHuffmanTable.LookBits))];
        if (e != 0)
        {
            int l = e >> 8;
            buf <<= l;
            bits -= l;
            s = e & 0xFF;
        }
        else
        {
            _buf = buf; _bits = bits;
            s = DecodeHuffSlow(dc);
            buf = _buf; bits = _bits;
        }
        int diff = 0;
        if (s != 0)
        {
            diff = Extend((int)(buf >> (64 - s)), s);
            buf <<= s;
            bits -= s;
        }
        c.DcPred = unchecked(c.DcPred + diff);
        blk[0] = unchecked((short)c.DcPred);

        int[] fastAc = ac.FastAc;
        ushort[] lookup = ac.Lookup;
        for (int k = 1; k < 64; k++)
        {
            if (bits < 32) { _bits = bits; buf = Refill(buf); bits = _bits; }
            int peek = (int)(buf >> (64 - JpegHuffmanTable.LookBits));
            int f = fastAc[peek];
            if (f != 0)
            {
                int len = f & 15;
                buf <<= len;
                bits -= len;
                k += (f >> 4) & 15;
                blk[nat[k]] = (short)(f >> 16);
                hasAc = true;
                continue;
            }
            int rs;
            e = lookup[peek];
            if (e != 0)
            {
                int l = e >> 8;
                buf <<= l;
                bits -= l;
                rs = e & 0xFF;
            }
            else
            {
                _buf = buf; _bits = bits;
                rs = DecodeHuffSlow(ac);
                buf = _buf; bits = _bits;
            }
            int r = rs >> 4;
            s = rs & 15;
            if (s != 0)
            {
                k += r;
                int v = Extend((int)(buf >> (64 - s)), s);
                buf <<= s;
                bits -= s;
                blk[nat[k]] = (short)v;
                hasAc = true;
            }
            else
            {
                if (r != 15) break;
                k += 15;
            }
        }
        _buf = buf;
        _bits = bits;
        return hasAc;
    }

    private void DecodeDcFirst(Component c, short* blk, int al)
    {
        int s = DecodeHuff(_dcTables[c.DcTable]!);
        int diff = 0;
        if (s != 0) diff = Extend(GetBits(s), s);
        c.DcPred = unchecked(c.DcPred + diff);
        blk[0] = unchecked((short)(c.DcPred << al));
    }

    private void DecodeAcFirst(Component c, short* blk, int ss, int se, int al)
    {
        if (_eobrun > 0) { _eobrun--; return; }
        var ac = _acTables[c.AcTable]!;
        for (int k = ss; k <= se; k++)
        {
            int rs = DecodeHuff(ac);
            int r = rs >> 4, s = rs & 15;
            if (s != 0)
            {
                k += r;
                int v = Extend(GetBits(s), s);
                blk[NaturalOrder[k]] = unchecked((short)(v << al));
            }
            else
            {
                if (r == 15) { k += 15; continue; }
                _eobrun = 1 << r;
                if (r != 0) _eobrun += GetBits(r);
                _eobrun--;
                break;
            }
        }
    }

    private void DecodeAcRefine(Component c, short* blk, int ss, int se, int al)
    {
        int p1 = 1 << al, m1 = -1 << al;
        int k = ss;
        if (_eobrun == 0)
        {
            var ac = _acTables[c.AcTable]!;
            for (; k <= se; k++)
            {
                int rs = DecodeHuff(ac);
                int r = rs >> 4, s = rs & 15;
                if (s != 0)
                {
                    // s should be 1 here; libjpeg warns and carries on otherwise.
                    s = GetBit() != 0 ? p1 : m1;
                }
                else if (r != 15)
                {
                    _eobrun = 1 << r;
                    if (r != 0) _eobrun += GetBits(r);
                    break;
                }
                do
                {
                    short* coef = blk + NaturalOrder[k];
                    if (*coef != 0)
                    {
                        if (GetBit() != 0 && (*coef & p1) == 0)
                            *coef = unchecked((short)(*coef >= 0 ? *coef + p1 : *coef + m1));
                    }
                    else if (--r < 0) break;
                    k++;
                } while (k <= se);
                if (s != 0) blk[NaturalOrder[k]] = (short)s;
            }
        }
        if (_eobrun > 0)
        {
            for (; k <= se; k++)
            {
                short* coef = blk + NaturalOrder[k];
                if (*coef != 0 && GetBit() != 0 && (*coef & p1) == 0)
                    *coef = unchecked((short)(*coef >= 0 ? *coef + p1 : *coef + m1));
            }
            _eobrun--;
        }
    }
}
