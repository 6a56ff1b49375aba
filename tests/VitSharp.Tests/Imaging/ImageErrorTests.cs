using System.Buffers.Binary;
using VitSharp.Imaging;

namespace VitSharp.Tests.Imaging;

public class ImageErrorTests
{
    private static byte[] Read(string rel) => File.ReadAllBytes(ImageFixtures.PathOf(rel));

    private static InvalidImageException Reject(byte[] data, string name = "photo.jpg", DecodeOptions? opt = null) =>
        Assert.Throws<InvalidImageException>(() => ImageDecoder.Decode(data, name, opt));

    private static int FindMarker(byte[] d, byte m)
    {
        for (int i = 2; i + 1 < d.Length; i++)
            if (d[i] == 0xFF && d[i + 1] == m) return i;
        throw new InvalidOperationException("marker not found");
    }

    [Fact]
    public void Arithmetic_coding_is_refused_by_name()
    {
        var e = Reject(Read("bad/arithmetic.jpg"), "bad/arithmetic.jpg");
        Assert.StartsWith("bad/arithmetic.jpg: ", e.Message);
        Assert.Contains("arithmetic", e.Message);
    }

    [Fact]
    public void Twelve_bit_and_lossless_are_refused()
    {
        var d = Read("jpeg/china_q90_420.jpg");
        int sof = FindMarker(d, 0xC0);
        var twelve = (byte[])d.Clone();
        twelve[sof + 4] = 12;
        Assert.Contains("12-bit", Reject(twelve).Message);
        var lossless = (byte[])d.Clone();
        lossless[sof + 1] = 0xC3;
        Assert.Contains("lossless", Reject(lossless).Message);
    }

    [Fact]
    public void Truncated_jpeg_names_the_file()
    {
        var d = Read("jpeg/china_q90_420.jpg");
        var e = Reject(d[..(d.Length * 2 / 3)], "/data/cats/001.jpg");
        Assert.Equal("/data/cats/001.jpg: JPEG: file is truncated inside the image data", e.Message);
        var p = Read("jpeg/china_q75_420_prog.jpg");
        Assert.Contains("truncated", Reject(p[..(p.Length / 2)]).Message);
    }

    [Fact]
    public void Png_crc_error_is_reported()
    {
        var d = Read("png/rgb8.png");
        d[20] ^= 1; // inside IHDR
        var e = Reject(d, "a.png");
        Assert.Equal("a.png: PNG: CRC error in chunk 'IHDR'", e.Message);
    }

    [Fact]
    public void Unknown_format_and_empty_file()
    {
        Assert.Contains("unknown image format", Reject("GIF89a..."u8.ToArray(), "x.gif").Message);
        Assert.Contains("empty", Reject([], "x.jpg").Message);
        Assert.StartsWith("<memory>: ", Assert.Throws<InvalidImageException>(() => ImageDecoder.Decode([1, 2, 3])).Message);
    }

    [Fact]
    public void Missing_file_is_an_InvalidImageException()
    {
        var path = Path.Combine(Path.GetTempPath(), "vitsharp-no-such-file.jpg");
        var e = Assert.Throws<InvalidImageException>(() => ImageDecoder.Load(path));
        Assert.StartsWith(path + ": cannot read file", e.Message);
    }

    [Fact]
    public void Pixel_limit_is_configurable()
    {
        var opt = new DecodeOptions { MaxPixels = 128 * 96 - 1 };
        var e = Reject(Read("jpeg/china_q90_420.jpg"), "c.jpg", opt);
        Assert.Contains("over the limit of 12287", e.Message);
        Assert.Contains("limit", Reject(Read("png/rgb8.png"), "c.png", new DecodeOptions { MaxPixels = 100 }).Message);
        Assert.Contains("limit", Reject(Read("bmp/bmp24.bmp"), "c.bmp", new DecodeOptions { MaxPixels = 100 }).Message);
        Assert.Contains("limit", Reject(Read("pnm/p6.ppm"), "c.ppm", new DecodeOptions { MaxPixels = 100 }).Message);
        var ok = ImageDecoder.Decode(Read("jpeg/china_q90_420.jpg"), "c.jpg", new DecodeOptions { MaxPixels = 128 * 96 });
        Assert.Equal(128, ok.Width);
    }

    [Fact]
    public void Forged_huge_sizes_are_refused_before_allocating()
    {
        // JPEG claiming 60000x60000 (over PIL's limit) and 9000x9000 (within it, but the file is tiny).
        var d = Read("jpeg/china_q90_420.jpg");
        int sof = FindMarker(d, 0xC0);
        foreach (int size in new[] { 60000, 9000 })
        {
            var j = (byte[])d.Clone();
            BinaryPrimitives.WriteUInt16BigEndian(j.AsSpan(sof + 5), (ushort)size);
            BinaryPrimitives.WriteUInt16BigEndian(j.AsSpan(sof + 7), (ushort)size);
            long before = GC.GetAllocatedBytesForCurrentThread();
            Reject(j);
            Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
        }
        // PNG claiming 9000x9000: the deflate stream is far too short for that, so no 243 MB buffer is made.
        var p = Read("png/rgb8.png");
        BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(16), 9000);
        BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(20), 9000);
        BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(29), Crc(p.AsSpan(12, 17)));
        long b2 = GC.GetAllocatedBytesForCurrentThread();
        Assert.Contains("truncated", Reject(p, "big.png").Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - b2 < 1 << 20);
    }

    private static uint Crc(ReadOnlySpan<byte> s)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in s)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }

    [Fact]
    public void Exif_orientation_can_be_switched_off()
    {
        var raw = ImageDecoder.Load(ImageFixtures.PathOf("jpeg/exif_orient6.jpg"), new DecodeOptions { ApplyExifOrientation = false });
        var turned = ImageDecoder.Load(ImageFixtures.PathOf("jpeg/exif_orient6.jpg"));
        Assert.Equal((40, 23), (raw.Width, raw.Height));
        Assert.Equal((23, 40), (turned.Width, turned.Height));
        var plain = ImageDecoder.Load(ImageFixtures.PathOf("jpeg/exif_orient1.jpg"));
        Assert.Equal(plain.Pixels, raw.Pixels);
    }

    [Fact]
    public void Components_missing_from_every_scan_decode_without_crashing()
    {
        // Keep only the luma scan of a one-scan-per-component file: chroma has no data and no latched
        // quantisation table (libjpeg leaves it mid-gray); this must neither crash nor throw anything else.
        var d = Read("jpeg/noninterleaved.jpg");
        int first = FindMarker(d, 0xDA);
        int second = -1;
        for (int i = first + 2; i + 1 < d.Length; i++)
            if (d[i] == 0xFF && d[i + 1] == 0xDA) { second = i; break; }
        Assert.True(second > 0);
        var cut = d[..second].Concat(new byte[] { 0xFF, 0xD9 }).ToArray();
        var img = ImageDecoder.Decode(cut, "cut.jpg");
        var full = ImageDecoder.Decode(d, "full.jpg");
        Assert.Equal((full.Width, full.Height, 3), (img.Width, img.Height, img.Channels));
        // With Cb = Cr = 128 every pixel is gray: R = G = B.
        for (int i = 0; i < img.Pixels.Length; i += 3)
        {
            Assert.Equal(img.Pixels[i], img.Pixels[i + 1]);
            Assert.Equal(img.Pixels[i], img.Pixels[i + 2]);
        }
    }
}
