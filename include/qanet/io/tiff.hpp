#pragma once
// TIFF read and write through libtiff.
//
// Reading: any single-channel (one sample per pixel) TIFF with 8/16/32/64-bit integer or
// 32/64-bit float samples, stored in strips or tiles, either byte order, with any codec libtiff
// was built with (none, LZW, PackBits, Deflate, ...). A file with one page is a 2D image
// (rows, cols) whatever its metadata says (tifffile/ImageJ may describe it as (1, H, W)); a file
// with several pages is a 3D image (pages, rows, cols) and all pages must agree in size and type.
// Reduced-resolution pages (thumbnails, pyramid levels) are skipped.
//
// Writing: uint8, uint16, uint32, int32, float32; 3D as one page per plane; no compression,
// LZW, PackBits or Deflate; always atomic (io/atomic_file.hpp).
//
// Every failure throws IoError (InvalidArgument for values that do not convert) naming the file.

#include <tiffio.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/image.hpp"
#include "qanet/io/any_image.hpp"
#include "qanet/io/atomic_file.hpp"
#include "qanet/io/detail/tiff_handle.hpp"

namespace qanet {

enum class TiffCompression { none, lzw, packbits, deflate, other };

inline const char* compression_name(TiffCompression c) {
  switch (c) {
    case TiffCompression::none: return "none";
    case TiffCompression::lzw: return "LZW";
    case TiffCompression::packbits: return "PackBits";
    case TiffCompression::deflate: return "Deflate";
    case TiffCompression::other: return "other";
  }
  return "other";
}

// What a TIFF file holds, read from its headers only.
struct TiffInfo {
  int dim = 2;                  // 2 for one page, 3 for several
  std::vector<Index> shape;     // numpy order: (rows, cols) or (pages, rows, cols)
  PixelType pixel_type = PixelType::u8;
  Index pages = 1;              // full-resolution pages
  TiffCompression compression = TiffCompression::none;  // of the first page
  int compression_code = COMPRESSION_NONE;              // the TIFF tag value
  bool tiled = false;
};

struct TiffWriteOptions {
  TiffCompression compression = TiffCompression::deflate;
  // Horizontal differencing before LZW/Deflate (integer types only). Off by default: on the
  // CTC images and masks it changed file sizes by -5%..+37% and slowed decoding 1.4-5x.
  bool predictor = false;
  // 0: strips of about 64 KiB. Ignored when tiled.
  Index rows_per_strip = 0;
  // 0: strips; otherwise square tiles of this edge (a multiple of 16, as TIFF requires).
  Index tile = 0;
};

// The most pixels (voxels) one image may hold, 2^28 (16384 x 16384, or 1024 x 512 x 512) unless
// the environment variable QANET_MAX_PIXELS says otherwise: the float copies and resamplings
// of scoring need about 20 bytes per pixel, so a larger frame would exhaust a workstation
// before any error could name it.
inline std::int64_t image_voxel_limit() {
  static const std::int64_t limit = [] {
    const char* v = std::getenv("QANET_MAX_PIXELS");
    if (v && *v) {
      char* end = nullptr;
      const long long n = std::strtoll(v, &end, 10);
      if (end && *end == '\0' && n > 0) return static_cast<std::int64_t>(n);
    }
    return std::int64_t{1} << 28;
  }();
  return limit;
}

namespace detail {

struct TiffPage {
  std::uint32_t width = 0, height = 0;
  PixelType type = PixelType::u8;
  std::uint16_t compression = COMPRESSION_NONE;
  bool tiled = false;
  bool reduced = false;  // a thumbnail or pyramid level
};

inline TiffCompression compression_from_code(int code) {
  switch (code) {
    case COMPRESSION_NONE: return TiffCompression::none;
    case COMPRESSION_LZW: return TiffCompression::lzw;
    case COMPRESSION_PACKBITS: return TiffCompression::packbits;
    case COMPRESSION_ADOBE_DEFLATE:
    case COMPRESSION_DEFLATE: return TiffCompression::deflate;
    default: return TiffCompression::other;
  }
}

inline std::uint16_t compression_code(TiffCompression c) {
  switch (c) {
    case TiffCompression::none: return COMPRESSION_NONE;
    case TiffCompression::lzw: return COMPRESSION_LZW;
    case TiffCompression::packbits: return COMPRESSION_PACKBITS;
    case TiffCompression::deflate: return COMPRESSION_ADOBE_DEFLATE;
    case TiffCompression::other: break;
  }
  throw InvalidArgument("write_tiff: choose compression none, LZW, PackBits or Deflate");
}

inline void check_readable(const std::filesystem::path& file) {
  std::error_code ec;
  const auto st = std::filesystem::status(file, ec);
  if (!std::filesystem::exists(st)) throw IoError("cannot read " + file.string() + ": no such file");
  if (std::filesystem::is_directory(st))
    throw IoError("cannot read " + file.string() + ": is a folder, not a TIFF file");
}

inline std::string page_desc(const TiffPage& p) {
  return std::to_string(p.height) + "x" + std::to_string(p.width) + " " + pixel_type_name(p.type);
}

// Tags of the current directory, validated for what qanet decodes.
inline TiffPage read_page_tags(TIFF* tif, const std::filesystem::path& file, int page) {
  TiffPage p;
  const std::string where = "page " + std::to_string(page) + ": ";
  std::uint32_t subfile = 0;
  if (TIFFGetField(tif, TIFFTAG_SUBFILETYPE, &subfile) && (subfile & FILETYPE_REDUCEDIMAGE))
    p.reduced = true;
  if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &p.width) ||
      !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &p.height))
    throw_tiff_error("cannot read", file, where + "image width or length missing (corrupt file)");
  std::uint16_t bps = 1, spp = 1, fmt = SAMPLEFORMAT_UINT, planar = PLANARCONFIG_CONTIG;
  std::uint32_t depth = 1;
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &fmt);
  TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
  TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &p.compression);
  if (TIFFGetField(tif, TIFFTAG_IMAGEDEPTH, &depth) && depth > 1)
    throw IoError("cannot read " + file.string() + ": " + where +
                  "unsupported: volumetric (ImageDepth) TIFF; qanet reads 3D images as pages");
  p.tiled = TIFFIsTiled(tif) != 0;
  if (p.reduced) return p;  // skipped: its format does not matter
  if (spp != 1)
    throw IoError("cannot read " + file.string() + ": " + where + "unsupported: " +
                  std::to_string(spp) +
                  " samples per pixel (RGB or multi-channel); qanet reads single-channel images");
  const char* kind = fmt == SAMPLEFORMAT_INT ? "signed integer"
                     : fmt == SAMPLEFORMAT_IEEEFP ? "floating-point"
                     : (fmt == SAMPLEFORMAT_UINT || fmt == SAMPLEFORMAT_VOID) ? "unsigned integer"
                                                                               : "complex";
  bool ok = true;
  if (fmt == SAMPLEFORMAT_UINT || fmt == SAMPLEFORMAT_VOID) {
    switch (bps) {
      case 8: p.type = PixelType::u8; break;
      case 16: p.type = PixelType::u16; break;
      case 32: p.type = PixelType::u32; break;
      case 64: p.type = PixelType::u64; break;
      default: ok = false;
    }
  } else if (fmt == SAMPLEFORMAT_INT) {
    switch (bps) {
      case 8: p.type = PixelType::i8; break;
      case 16: p.type = PixelType::i16; break;
      case 32: p.type = PixelType::i32; break;
      case 64: p.type = PixelType::i64; break;
      default: ok = false;
    }
  } else if (fmt == SAMPLEFORMAT_IEEEFP) {
    switch (bps) {
      case 32: p.type = PixelType::f32; break;
      case 64: p.type = PixelType::f64; break;
      default: ok = false;
    }
  } else {
    ok = false;
  }
  if (!ok)
    throw IoError("cannot read " + file.string() + ": " + where + "unsupported pixel type: " +
                  std::to_string(bps) + "-bit " + kind +
                  " samples (qanet reads 8/16/32/64-bit integers and 32/64-bit floats)");
  if (!TIFFIsCODECConfigured(p.compression))
    throw IoError("cannot read " + file.string() + ": " + where + "unsupported compression (code " +
                  std::to_string(p.compression) + ") in this libtiff build");
  (void)planar;  // with one sample per pixel both planar layouts store the same bytes
  return p;
}

// All directories of the file; leaves the handle on the last one.
inline std::vector<TiffPage> read_all_pages(TIFF* tif, const std::filesystem::path& file) {
  std::vector<TiffPage> pages;
  for (int page = 0;; ++page) {
    pages.push_back(read_page_tags(tif, file, page));
    const std::size_t errors_before = tiff_messages().errors.size();
    if (!TIFFReadDirectory(tif)) {
      if (tiff_messages().errors.size() != errors_before)
        throw_tiff_error("cannot read", file,
                         "page " + std::to_string(page + 1) + " is corrupt or the file is truncated");
      break;
    }
  }
  return pages;
}

// The full-resolution pages, checked to agree.
inline std::vector<TiffPage> main_pages(const std::vector<TiffPage>& all, const std::filesystem::path& file) {
  std::vector<TiffPage> pages;
  for (const TiffPage& p : all)
    if (!p.reduced) pages.push_back(p);
  if (pages.empty()) throw IoError("cannot read " + file.string() + ": no full-resolution page");
  for (std::size_t i = 1; i < pages.size(); ++i)
    if (pages[i].width != pages[0].width || pages[i].height != pages[0].height ||
        pages[i].type != pages[0].type)
      throw IoError("cannot read " + file.string() + ": page " + std::to_string(i) + " is " +
                    page_desc(pages[i]) + " but page 0 is " + page_desc(pages[0]) +
                    "; the pages of a 3D TIFF must agree in size and pixel type");
  return pages;
}

// ImageJ writes stacks over 4 GiB as one page followed by raw planes; reading only the first
// page would silently return one plane of a 3D image.
inline void reject_imagej_raw_stack(TIFF* tif, const std::filesystem::path& file, std::size_t pages) {
  if (pages != 1) return;
  char* desc = nullptr;
  if (!TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &desc) || !desc) return;
  const std::string d(desc);
  if (d.rfind("ImageJ=", 0) != 0) return;
  const auto at = d.find("\nimages=");
  if (at == std::string::npos) return;
  const long n = std::strtol(d.c_str() + at + 8, nullptr, 10);
  if (n > 1)
    throw IoError("cannot read " + file.string() + ": unsupported: ImageJ stack of " +
                  std::to_string(n) + " planes stored after a single TIFF page");
}

// Caps the allocation a corrupt header can request: no codec expands data by more than about
// 1400:1 (LZW) or 1032:1 (Deflate), and uncompressed data must lie inside the file.
inline void check_plausible_size(const std::filesystem::path& file, const TiffPage& p, std::size_t pages) {
  const double voxels = static_cast<double>(p.width) * p.height * static_cast<double>(pages);
  if (voxels > static_cast<double>(image_voxel_limit()))
    throw IoError("cannot read " + file.string() + ": " + std::to_string(pages) + " page(s) of " + page_desc(p) +
                  " hold " + std::to_string(static_cast<long long>(voxels / 1e6)) +
                  " M pixels, above qanet's limit of " + std::to_string(image_voxel_limit() / 1000000) +
                  " M per image (crop or tile it; QANET_MAX_PIXELS raises the limit)");
  std::error_code ec;
  const double file_size = static_cast<double>(std::filesystem::file_size(file, ec));
  const double bytes = static_cast<double>(p.width) * p.height * pixel_type_bytes(p.type) * pages;
  const double ratio = p.compression == COMPRESSION_NONE ? 2.0 : 16384.0;
  if (!ec && bytes > ratio * file_size + 64.0 * 1024 * 1024)
    throw IoError("cannot read " + file.string() + ": the header announces " +
                  std::to_string(pages) + " page(s) of " + page_desc(p) +
                  ", impossible for a file of " + std::to_string(static_cast<long long>(file_size)) +
                  " bytes (corrupt header)");
}

// Decodes the current directory into dst (height rows of width * bytes).
inline void decode_page(TIFF* tif, const std::filesystem::path& file, const TiffPage& p, int page,
                        unsigned char* dst) {
  const std::size_t bytes = static_cast<std::size_t>(pixel_type_bytes(p.type));
  const std::size_t row_bytes = static_cast<std::size_t>(p.width) * bytes;
  const std::string where = "page " + std::to_string(page) + ": ";
  if (!p.tiled) {
    std::uint32_t rps = 0;
    TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps);
    if (rps == 0 || rps > p.height) rps = p.height;
    const std::uint32_t strips = (p.height + rps - 1) / rps;
    if (TIFFNumberOfStrips(tif) < strips)
      throw_tiff_error("cannot read", file, where + "fewer strips than rows need (corrupt file)");
    for (std::uint32_t s = 0; s < strips; ++s) {
      const std::uint32_t rows = std::min(rps, p.height - s * rps);
      const tmsize_t n = static_cast<tmsize_t>(rows * row_bytes);
      if (TIFFReadEncodedStrip(tif, s, dst + static_cast<std::size_t>(s) * rps * row_bytes, n) != n)
        throw_tiff_error("cannot read", file,
                         where + "strip " + std::to_string(s) + " is truncated or corrupt");
    }
    return;
  }
  std::uint32_t tw = 0, th = 0;
  TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
  TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
  if (tw == 0 || th == 0) throw_tiff_error("cannot read", file, where + "tile size missing (corrupt file)");
  const tmsize_t tile_bytes = static_cast<tmsize_t>(static_cast<std::size_t>(tw) * th * bytes);
  if (TIFFTileSize(tif) != tile_bytes)
    throw_tiff_error("cannot read", file, where + "unexpected tile layout");
  std::vector<unsigned char> tile(static_cast<std::size_t>(tile_bytes));
  for (std::uint32_t y = 0; y < p.height; y += th) {
    for (std::uint32_t x = 0; x < p.width; x += tw) {
      const std::uint32_t t = TIFFComputeTile(tif, x, y, 0, 0);
      if (TIFFReadEncodedTile(tif, t, tile.data(), tile_bytes) != tile_bytes)
        throw_tiff_error("cannot read", file,
                         where + "tile " + std::to_string(t) + " is truncated or corrupt");
      const std::size_t rows = std::min(th, p.height - y), cols = std::min(tw, p.width - x);
      for (std::size_t r = 0; r < rows; ++r)
        std::memcpy(dst + (y + r) * row_bytes + x * bytes, tile.data() + r * tw * bytes, cols * bytes);
    }
  }
}

inline TiffInfo make_info(const std::vector<TiffPage>& pages) {
  TiffInfo info;
  const TiffPage& p = pages.front();
  info.pages = static_cast<Index>(pages.size());
  info.dim = pages.size() == 1 ? 2 : 3;
  if (info.dim == 3) info.shape.push_back(info.pages);
  info.shape.push_back(p.height);
  info.shape.push_back(p.width);
  info.pixel_type = p.type;
  info.compression_code = p.compression;
  info.compression = compression_from_code(p.compression);
  info.tiled = p.tiled;
  return info;
}

}  // namespace detail

// Headers only: dimension, shape, pixel type, pages, compression.
inline TiffInfo tiff_info(const std::filesystem::path& file) {
  detail::check_readable(file);
  detail::TiffMessageScope scope;
  detail::TiffHandle tif(file, "r", file);
  const auto all = detail::read_all_pages(tif.get(), file);
  const auto pages = detail::main_pages(all, file);
  TIFFSetDirectory(tif.get(), 0);
  detail::reject_imagej_raw_stack(tif.get(), file, pages.size());
  detail::check_plausible_size(file, pages.front(), pages.size());
  return detail::make_info(pages);
}

// The image as stored, whatever its pixel type.
inline AnyImage read_tiff(const std::filesystem::path& file) {
  detail::check_readable(file);
  detail::TiffMessageScope scope;
  detail::TiffHandle tif(file, "r", file);
  const auto all = detail::read_all_pages(tif.get(), file);
  const auto pages = detail::main_pages(all, file);
  if (!TIFFSetDirectory(tif.get(), 0))
    detail::throw_tiff_error("cannot read", file, "cannot return to the first page");
  detail::reject_imagej_raw_stack(tif.get(), file, pages.size());
  detail::check_plausible_size(file, pages.front(), pages.size());
  const TiffInfo info = detail::make_info(pages);
  try {
    AnyImage img(info.pixel_type, info.shape, file.string());
    auto* dst = static_cast<unsigned char*>(img.bytes());
    const std::size_t page_bytes = static_cast<std::size_t>(pages[0].width) * pages[0].height *
                                   static_cast<std::size_t>(pixel_type_bytes(info.pixel_type));
    std::size_t k = 0;
    for (std::size_t d = 0; d < all.size(); ++d) {
      if (d > 0 && !TIFFReadDirectory(tif.get()))
        detail::throw_tiff_error("cannot read", file, "page " + std::to_string(d) + " vanished");
      if (all[d].reduced) continue;
      detail::decode_page(tif.get(), file, pages[k], static_cast<int>(k), dst + k * page_bytes);
      ++k;
    }
    return img;
  } catch (const std::bad_alloc&) {
    throw IoError("cannot read " + file.string() + ": not enough memory for " +
                  std::to_string(pages.size()) + " page(s) of " + detail::page_desc(pages[0]));
  }
}

// The image converted to T (see AnyImage::as). A 2D file read as 3D is one plane (1 x H x W);
// a multi-page file read as 2D is an error.
template <typename T, int Dim>
Image<T, Dim> read_tiff_as(const std::filesystem::path& file) {
  return read_tiff(file).template as<T, Dim>();
}

// Instance labels from any integer or float TIFF; negative, fractional or non-finite values
// throw InvalidArgument naming the file. Same dimension rules as read_tiff_as.
template <int Dim>
LabelImage<Dim> read_labels(const std::filesystem::path& file) {
  return read_tiff(file).template as_labels<Dim>();
}

// Writes a 2D image as one page, a 3D image as one page per plane (index 0 first).
template <typename T, int Dim>
void write_tiff(const std::filesystem::path& file, const ImageView<T, Dim>& img,
                const TiffWriteOptions& options) {
  using V = std::remove_const_t<T>;
  static_assert(std::is_same_v<V, std::uint8_t> || std::is_same_v<V, std::uint16_t> ||
                    std::is_same_v<V, std::uint32_t> || std::is_same_v<V, std::int32_t> ||
                    std::is_same_v<V, float>,
                "write_tiff writes uint8, uint16, uint32, int32 and float32 images");
  const std::string named = file.string();
  if (img.empty()) throw InvalidArgument("cannot write " + named + ": the image is empty (" + img.shape().str() + ")");
  for (Index e : img.shape().extent)
    if (e > 0xFFFFFFFFLL) throw InvalidArgument("cannot write " + named + ": extent too large for TIFF");
  const std::uint16_t codec = detail::compression_code(options.compression);
  if (options.tile < 0 || options.tile % 16 != 0)
    throw InvalidArgument("cannot write " + named + ": tile edge must be a multiple of 16");
  if (options.rows_per_strip < 0)
    throw InvalidArgument("cannot write " + named + ": rows_per_strip must be >= 0");

  const Index pages = Dim == 3 ? img.shape()[0] : 1;
  const auto h = static_cast<std::uint32_t>(img.shape()[Dim - 2]);
  const auto w = static_cast<std::uint32_t>(img.shape()[Dim - 1]);
  const std::size_t row_bytes = static_cast<std::size_t>(w) * sizeof(V);
  const std::size_t page_bytes = row_bytes * h;
  // Classic TIFF addresses 4 GiB; leave room for headers and incompressible data.
  const bool big = static_cast<double>(page_bytes) * static_cast<double>(pages) > 3.5e9;
  const std::uint16_t format = std::is_floating_point_v<V> ? SAMPLEFORMAT_IEEEFP
                               : std::is_signed_v<V>      ? SAMPLEFORMAT_INT
                                                          : SAMPLEFORMAT_UINT;
  const bool predict = options.predictor && !std::is_floating_point_v<V> &&
                       (codec == COMPRESSION_LZW || codec == COMPRESSION_ADOBE_DEFLATE);
  std::uint32_t rps = h;
  if (options.rows_per_strip > 0)
    rps = static_cast<std::uint32_t>(std::min<Index>(options.rows_per_strip, h));
  else
    rps = static_cast<std::uint32_t>(std::clamp<std::size_t>(65536 / row_bytes, 1, h));
  const auto* src = reinterpret_cast<const unsigned char*>(img.data());

  write_file_atomic(file, [&](const std::filesystem::path& tmp) {
    detail::TiffMessageScope scope;
    detail::TiffHandle tif(tmp, big ? "w8" : "w", file);
    TIFF* t = tif.get();
    // libtiff may alter the buffer it is given (predictor, byte swapping): hand it copies.
    std::vector<unsigned char> scratch;
    for (Index p = 0; p < pages; ++p) {
      bool ok = TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w) && TIFFSetField(t, TIFFTAG_IMAGELENGTH, h) &&
                TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, static_cast<std::uint16_t>(8 * sizeof(V))) &&
                TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, static_cast<std::uint16_t>(1)) &&
                TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, format) &&
                TIFFSetField(t, TIFFTAG_PHOTOMETRIC, static_cast<std::uint16_t>(PHOTOMETRIC_MINISBLACK)) &&
                TIFFSetField(t, TIFFTAG_PLANARCONFIG, static_cast<std::uint16_t>(PLANARCONFIG_CONTIG)) &&
                TIFFSetField(t, TIFFTAG_COMPRESSION, codec);
      if (ok && predict) ok = TIFFSetField(t, TIFFTAG_PREDICTOR, static_cast<std::uint16_t>(PREDICTOR_HORIZONTAL));
      if (ok && Dim == 3) {
        ok = TIFFSetField(t, TIFFTAG_SUBFILETYPE, static_cast<std::uint32_t>(FILETYPE_PAGE));
        if (ok && pages <= 0xFFFF)
          ok = TIFFSetField(t, TIFFTAG_PAGENUMBER, static_cast<std::uint16_t>(p),
                            static_cast<std::uint16_t>(pages));
      }
      if (ok && options.tile > 0)
        ok = TIFFSetField(t, TIFFTAG_TILEWIDTH, static_cast<std::uint32_t>(options.tile)) &&
             TIFFSetField(t, TIFFTAG_TILELENGTH, static_cast<std::uint32_t>(options.tile));
      else if (ok)
        ok = TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, rps);
      if (!ok) detail::throw_tiff_error("cannot write", file, "setting the TIFF tags failed");

      const unsigned char* plane = src + static_cast<std::size_t>(p) * page_bytes;
      if (options.tile == 0) {
        for (std::uint32_t s = 0, y = 0; y < h; ++s, y += rps) {
          const std::size_t n = std::min(rps, h - y) * row_bytes;
          scratch.assign(plane + y * row_bytes, plane + y * row_bytes + n);
          if (TIFFWriteEncodedStrip(t, s, scratch.data(), static_cast<tmsize_t>(n)) < 0)
            detail::throw_tiff_error("cannot write", file, "writing strip " + std::to_string(s) + " failed");
        }
      } else {
        const auto e = static_cast<std::uint32_t>(options.tile);
        for (std::uint32_t y = 0; y < h; y += e) {
          for (std::uint32_t x = 0; x < w; x += e) {
            scratch.assign(static_cast<std::size_t>(e) * e * sizeof(V), 0);  // pad partial tiles
            const std::size_t rows = std::min(e, h - y), cols = std::min(e, w - x);
            for (std::size_t r = 0; r < rows; ++r)
              std::memcpy(scratch.data() + r * e * sizeof(V), plane + (y + r) * row_bytes + x * sizeof(V),
                          cols * sizeof(V));
            const std::uint32_t tile = TIFFComputeTile(t, x, y, 0, 0);
            if (TIFFWriteEncodedTile(t, tile, scratch.data(), static_cast<tmsize_t>(scratch.size())) < 0)
              detail::throw_tiff_error("cannot write", file, "writing tile " + std::to_string(tile) + " failed");
          }
        }
      }
      if (!TIFFWriteDirectory(t))
        detail::throw_tiff_error("cannot write", file, "writing page " + std::to_string(p) + " failed");
    }
    tif.close();
    if (!detail::tiff_messages().errors.empty())
      detail::throw_tiff_error("cannot write", file, "closing the file failed");
  });
}

template <typename T, int Dim>
void write_tiff(const std::filesystem::path& file, const ImageView<T, Dim>& img,
                TiffCompression compression = TiffCompression::deflate) {
  TiffWriteOptions o;
  o.compression = compression;
  write_tiff(file, img, o);
}

template <typename T, int Dim>
void write_tiff(const std::filesystem::path& file, const Image<T, Dim>& img, const TiffWriteOptions& options) {
  write_tiff(file, img.view(), options);
}

template <typename T, int Dim>
void write_tiff(const std::filesystem::path& file, const Image<T, Dim>& img,
                TiffCompression compression = TiffCompression::deflate) {
  write_tiff(file, img.view(), compression);
}

}  // namespace qanet
