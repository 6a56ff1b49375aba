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
            DecodeSequential(c, tmp);
            JpegIdct.Transform(tmp, c.QuantPtr, c.PlanePtr + (long)by * 8 * c.PlaneStride + bx * 8, c.PlaneStride, JpegIdct.RangePtr);
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void DecodeSequential(Component c, short* blk)
    {
        var dc = _dcTables[c.DcTable]!;
        var ac = _acTables[c.AcTable]!;
        int s = DecodeHuff(dc);
        int diff = 0;
        if (s != 0) diff = Extend(GetBits(s), s);
        c.DcPred = unchecked(c.DcPred + diff);
        blk[0] = unchecked((short)c.DcPred);
        for (int k = 1; k < 64; k++)
        {
            int rs = DecodeHuff(ac);
            int r = rs >> 4;
            s = rs & 15;
            if (s != 0)
            {
                k += r;
                int v = Extend(GetBits(s), s);
                blk[NaturalOrder[k]] = (short)v;
            }
            else
            {
                if (r != 15) break;
                k += 15;
            }
        }
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
