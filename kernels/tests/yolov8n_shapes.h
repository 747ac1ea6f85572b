/* The distinct conv shapes of a YOLOv8n detector at 320x320 (nudenet 320n), batch 1,
 * written by hand from the architecture (backbone, neck, detect head), with the
 * number of layers sharing each shape; the float32 bench's second set (-f). Same
 * record as efficientnet_shapes.h. Pads are the "same" ones (k / 2). */
#ifndef DYD_YOLOV8N_SHAPES_H
#define DYD_YOLOV8N_SHAPES_H

#include "efficientnet_shapes.h"

static const dyd_net_shape dyd_yolov8n_shapes[] = {
    /* layer, n, kh, kw, sh, sw, pt, pl, groups, in_c, out_c, in_h, in_w, out_h, out_w */
    {"stem", 1, 3, 3, 2, 2, 1, 1, 1, 3, 16, 320, 320, 160, 160, 0},
    {"down1", 1, 3, 3, 2, 2, 1, 1, 1, 16, 32, 160, 160, 80, 80, 0},
    {"c2f1.cv1", 1, 1, 1, 1, 1, 0, 0, 1, 32, 32, 80, 80, 80, 80, 0},
    {"c2f1.m", 2, 3, 3, 1, 1, 1, 1, 1, 16, 16, 80, 80, 80, 80, 0},
    {"c2f1.cv2", 1, 1, 1, 1, 1, 0, 0, 1, 48, 32, 80, 80, 80, 80, 0},
    {"down2", 1, 3, 3, 2, 2, 1, 1, 1, 32, 64, 80, 80, 40, 40, 0},
    {"c2f2.cv1", 1, 1, 1, 1, 1, 0, 0, 1, 64, 64, 40, 40, 40, 40, 0},
    {"c2f2.m", 6, 3, 3, 1, 1, 1, 1, 1, 32, 32, 40, 40, 40, 40, 0},
    {"c2f2.cv2", 1, 1, 1, 1, 1, 0, 0, 1, 128, 64, 40, 40, 40, 40, 0},
    {"down3", 1, 3, 3, 2, 2, 1, 1, 1, 64, 128, 40, 40, 20, 20, 0},
    {"c2f3.cv1", 1, 1, 1, 1, 1, 0, 0, 1, 128, 128, 20, 20, 20, 20, 0},
    {"c2f3.m", 6, 3, 3, 1, 1, 1, 1, 1, 64, 64, 20, 20, 20, 20, 0},
    {"c2f3.cv2", 1, 1, 1, 1, 1, 0, 0, 1, 256, 128, 20, 20, 20, 20, 0},
    {"down4", 1, 3, 3, 2, 2, 1, 1, 1, 128, 256, 20, 20, 10, 10, 0},
    {"c2f4.cv1", 1, 1, 1, 1, 1, 0, 0, 1, 256, 256, 10, 10, 10, 10, 0},
    {"c2f4.m", 4, 3, 3, 1, 1, 1, 1, 1, 128, 128, 10, 10, 10, 10, 0},
    {"c2f4.cv2", 2, 1, 1, 1, 1, 0, 0, 1, 384, 256, 10, 10, 10, 10, 0},
    {"sppf.cv1", 1, 1, 1, 1, 1, 0, 0, 1, 256, 128, 10, 10, 10, 10, 0},
    {"sppf.cv2", 1, 1, 1, 1, 1, 0, 0, 1, 512, 256, 10, 10, 10, 10, 0},
    {"head.c2f20", 1, 1, 1, 1, 1, 0, 0, 1, 192, 64, 40, 40, 40, 40, 0},
    {"head.down20", 1, 3, 3, 2, 2, 1, 1, 1, 64, 64, 40, 40, 20, 20, 0},
    {"head.down10", 1, 3, 3, 2, 2, 1, 1, 1, 128, 128, 20, 20, 10, 10, 0},
    {"detect.40", 3, 3, 3, 1, 1, 1, 1, 1, 64, 64, 40, 40, 40, 40, 0},
    {"detect.cls40", 1, 1, 1, 1, 1, 0, 0, 1, 64, 80, 40, 40, 40, 40, 0},
    {"detect.10", 2, 3, 3, 1, 1, 1, 1, 1, 256, 64, 10, 10, 10, 10, 0},
};

#define DYD_YOLOV8N_SHAPE_COUNT (sizeof dyd_yolov8n_shapes / sizeof dyd_yolov8n_shapes[0])

#endif
