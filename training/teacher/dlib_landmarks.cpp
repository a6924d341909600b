// Teacher labeller for the landmark student: dlib's 68-point shape predictor (libdlib-dev, libdlib-data).
// Used in training only; never shipped. Speaks a tiny binary protocol on stdin so that Python owns all image
// loading and geometry (no libjpeg/libpng linking, no path handling here):
//   per request: int32 width, int32 height, int32 box[4] (left, top, width, height; width 0 = no box),
//                int32 mode (0: use the box, 1: dlib's HOG detector first, the box if it finds nothing),
//                then width*height gray bytes, row-major.
//   per reply, one text line: "<source> <left> <top> <right> <bottom> x0 y0 ... x67 y67"
//                source is hog | box | none (none: no box and no detection; no numbers follow).
// dlib's shape_predictor rounds its points to whole pixels on return; to keep the sub-pixel answer we need the
// forests it holds, which are private. The maths below is dlib's own operator() without the final rounding.
// Standard headers come first so that only dlib's own classes see the define.
#include <bits/stdc++.h>
#define private public
#include <dlib/image_processing.h>
#undef private
#include <dlib/image_processing/frontal_face_detector.h>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: dlib_landmarks <shape_predictor_68_face_landmarks.dat>\n";
    return 2;
  }
  dlib::shape_predictor predictor;
  dlib::deserialize(argv[1]) >> predictor;
  dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();
  std::ios::sync_with_stdio(false);
  int32_t header[7];
  while (std::fread(header, sizeof(int32_t), 7, stdin) == 7) {
    const long width = header[0], height = header[1];
    if (width <= 0 || height <= 0 || width * height > 64L * 1024 * 1024) {
      std::cerr << "bad image size " << width << "x" << height << "\n";
      return 3;
    }
    dlib::array2d<unsigned char> image(height, width);
    std::vector<unsigned char> row(width);
    for (long y = 0; y < height; ++y) {
      if (std::fread(row.data(), 1, width, stdin) != static_cast<size_t>(width)) {
        std::cerr << "truncated image\n";
        return 3;
      }
      for (long x = 0; x < width; ++x) image[y][x] = row[x];
    }
    dlib::rectangle rect;
    const char* source = "none";
    if (header[6] == 1) {
      const std::vector<dlib::rectangle> found = detector(image);
      // The largest detection: crops hold one main face.
      for (const auto& r : found) {
        if (r.area() > rect.area()) rect = r;
      }
      if (!found.empty()) source = "hog";
    }
    if (std::string(source) == "none" && header[4] > 0) {
      rect = dlib::rectangle(header[2], header[3], header[2] + header[4] - 1, header[3] + header[5] - 1);
      source = "box";
    }
    std::printf("%s", source);
    if (std::string(source) != "none") {
      dlib::matrix<float, 0, 1> shape = predictor.initial_shape;
      std::vector<float> features;
      for (unsigned long iter = 0; iter < predictor.forests.size(); ++iter) {
        dlib::impl::extract_feature_pixel_values(image, rect, shape, predictor.initial_shape,
                                                 predictor.anchor_idx[iter], predictor.deltas[iter], features);
        unsigned long leaf;
        for (const auto& tree : predictor.forests[iter]) shape += tree(features, leaf);
      }
      const dlib::point_transform_affine to_image = dlib::impl::unnormalizing_tform(rect);
      std::printf(" %ld %ld %ld %ld", rect.left(), rect.top(), rect.right(), rect.bottom());
      for (unsigned long i = 0; i < shape.size() / 2; ++i) {
        const dlib::dpoint p = to_image(dlib::impl::location(shape, i));
        std::printf(" %.3f %.3f", p.x(), p.y());
      }
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  return 0;
}
