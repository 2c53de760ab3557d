/* Glyphs of a 5x7 bitmap font (9 rows: 7 above the baseline, 2 for descenders) for chart labels:
 * digits, letters, . - + : , ( ) _ / % = *: captions, tick labels and run names (experiment
 * directories) in legends. Internal to src/plot/. */
#ifndef MASKDIT_PLOT_FONT_H
#define MASKDIT_PLOT_FONT_H

#include <stdint.h>

/* Nine rows of 5 bits (bit 4 = leftmost column) for ch, or NULL when the font has no glyph. */
const uint8_t *font5x7_glyph(char ch);

#endif
