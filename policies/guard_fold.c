/* policies/guard_fold.c — folds a Unicode code point to what the injection
 * scorer compares: an ASCII lower-case letter or digit, a separator, or
 * nothing at all. It undoes the usual disguises of "ignore previous
 * instructions": Cyrillic/Greek look-alikes, fullwidth forms, mathematical
 * and enclosed letters, small capitals, Unicode tag characters (invisible
 * "ASCII smuggling"), zero-width and other invisible characters. Accented
 * Latin letters fold to their base letter, so French/German/Spanish
 * phrasings match too. Table-driven; no allocation. */
#include <stdint.h>
#include "guard_fold.h"

/* U+00C0..U+017F to base letters; '.' = not a letter (multiplication and
 * division signs). */
static const char LATIN[] = "aaaaaaaceeeeiiii"
                            "dnooooo.ouuuuyts"
                            "aaaaaaaceeeeiiii"
                            "dnooooo.ouuuuyty"
                            "aaaaaaccccccccdd"
                            "ddeeeeeeeeeegggg"
                            "gggghhhhiiiiiiii"
                            "iiiijjkkklllllll"
                            "lllnnnnnnnnnoooo"
                            "oooorrrrrrssssss"
                            "ssttttttuuuuuuuu"
                            "uuuuwwyyyzzzzzzs";

/* Look-alikes of Latin letters, sorted by code point. */
static const struct {
    uint16_t cp;
    char c;
} HOMO[] = {
    {0x0261, 'g'}, {0x0262, 'g'}, {0x026A, 'i'}, {0x0274, 'n'}, {0x0280, 'r'}, {0x028F, 'y'},
    {0x0299, 'b'}, {0x029C, 'h'}, {0x029F, 'l'}, {0x0391, 'a'}, {0x0392, 'b'}, {0x0395, 'e'},
    {0x0396, 'z'}, {0x0397, 'h'}, {0x0399, 'i'}, {0x039A, 'k'}, {0x039C, 'm'}, {0x039D, 'n'},
    {0x039F, 'o'}, {0x03A1, 'p'}, {0x03A4, 't'}, {0x03A5, 'y'}, {0x03A7, 'x'}, {0x03B1, 'a'},
    {0x03B2, 'b'}, {0x03B3, 'y'}, {0x03B5, 'e'}, {0x03B7, 'n'}, {0x03B9, 'i'}, {0x03BA, 'k'},
    {0x03BD, 'v'}, {0x03BF, 'o'}, {0x03C1, 'p'}, {0x03C4, 't'}, {0x03C5, 'u'}, {0x03C7, 'x'},
    {0x03C9, 'w'}, {0x03F2, 'c'}, {0x03F3, 'j'}, {0x0405, 's'}, {0x0406, 'i'}, {0x0408, 'j'},
    {0x0410, 'a'}, {0x0412, 'b'}, {0x0415, 'e'}, {0x041A, 'k'}, {0x041C, 'm'}, {0x041D, 'h'},
    {0x041E, 'o'}, {0x0420, 'p'}, {0x0421, 'c'}, {0x0422, 't'}, {0x0423, 'y'}, {0x0425, 'x'},
    {0x0430, 'a'}, {0x0435, 'e'}, {0x043A, 'k'}, {0x043C, 'm'}, {0x043E, 'o'}, {0x0440, 'p'},
    {0x0441, 'c'}, {0x0443, 'y'}, {0x0445, 'x'}, {0x0455, 's'}, {0x0456, 'i'}, {0x0458, 'j'},
    {0x04AF, 'y'}, {0x04BB, 'h'}, {0x04CF, 'l'}, {0x0501, 'd'}, {0x051B, 'q'}, {0x051D, 'w'},
    {0x0570, 'h'}, {0x0578, 'n'}, {0x057D, 'u'}, {0x0585, 'o'}, {0x1D00, 'a'}, {0x1D04, 'c'},
    {0x1D05, 'd'}, {0x1D07, 'e'}, {0x1D0A, 'j'}, {0x1D0B, 'k'}, {0x1D0D, 'm'}, {0x1D0F, 'o'},
    {0x1D18, 'p'}, {0x1D1B, 't'}, {0x1D1C, 'u'}, {0x1D20, 'v'}, {0x1D21, 'w'}, {0x1D22, 'z'},
    {0x210E, 'h'}, {0x2113, 'l'}, {0x212F, 'e'}, {0x2134, 'o'}, {0x2139, 'i'}, {0xA730, 'f'},
    {0xA731, 's'},
};

static int homo(uint32_t cp)
{
    int lo = 0, hi = (int)(sizeof HOMO / sizeof HOMO[0]) - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (HOMO[mid].cp == cp) return HOMO[mid].c;
        if (HOMO[mid].cp < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

/* Invisible: format characters, joiners, variation selectors, fillers. */
static int invisible(uint32_t cp)
{
    return cp == 0x00AD || cp == 0x034F || cp == 0x061C || cp == 0x115F || cp == 0x1160 ||
           cp == 0x17B4 || cp == 0x17B5 || (cp >= 0x180B && cp <= 0x180F) ||
           (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2060 && cp <= 0x206F) || cp == 0x3164 || (cp >= 0xFE00 && cp <= 0xFE0F) ||
           cp == 0xFEFF || cp == 0xFFA0 || (cp >= 0x1BCA0 && cp <= 0x1BCA3) ||
           (cp >= 0xE0000 && cp <= 0xE001F) || cp == 0xE007F || (cp >= 0xE0100 && cp <= 0xE01EF);
}

static int combining(uint32_t cp)
{
    return (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
           (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) ||
           (cp >= 0xFE20 && cp <= 0xFE2F);
}

static int space_or_symbol(uint32_t cp)
{
    return (cp >= 0x0080 && cp <= 0x00BF) || cp == 0x00D7 || cp == 0x00F7 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x2070 && cp <= 0x20CF) ||
           (cp >= 0x2100 && cp <= 0x2BFF) || (cp >= 0x2E00 && cp <= 0x2E7F) ||
           (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFE10 && cp <= 0xFE6F) ||
           (cp >= 0xFFF0 && cp <= 0xFFFF) || (cp >= 0x1F000 && cp <= 0x1FAFF);
}

/* ASCII byte as the scorer sees it. */
static int ascii(unsigned c, unsigned char *out)
{
    if (c - 'a' < 26u || c - '0' < 10u) {
        *out = (unsigned char)c;
        return GR_F_LETTER;
    }
    if (c - 'A' < 26u) {
        *out = (unsigned char)(c | 0x20);
        return GR_F_LETTER;
    }
    return GR_F_SEP;
}

int gr_fold_cp(uint32_t cp, unsigned char *out, int *obf)
{
    *obf = 0;
    if (cp < 0x80) return ascii(cp, out);
    if (cp >= 0xC0 && cp <= 0x17F) {
        char c = LATIN[cp - 0xC0];
        if (c == '.') return GR_F_SEP;
        *out = (unsigned char)c;
        return GR_F_LETTER;
    }
    if (combining(cp)) return GR_F_DROP;
    if (invisible(cp)) {
        *obf = 1;
        return GR_F_DROP;
    }
    if (cp >= 0xE0020 && cp <= 0xE007E) { /* tag characters mirror ASCII */
        *obf = 1;
        return ascii(cp - 0xE0000, out);
    }
    if (cp >= 0xFF01 && cp <= 0xFF5E) { /* fullwidth forms */
        int r = ascii(cp - 0xFEE0, out);
        *obf = r == GR_F_LETTER;
        return r;
    }
    int h = homo(cp);
    if (h) {
        *obf = 1;
        *out = (unsigned char)h;
        return GR_F_LETTER;
    }
    uint32_t base = 0, span = 26;
    if (cp >= 0x1D400 && cp <= 0x1D6A3) { /* mathematical alphanumerics */
        *out = (unsigned char)('a' + (cp - 0x1D400) % 26);
        *obf = 1;
        return GR_F_LETTER;
    }
    if (cp >= 0x1D7CE && cp <= 0x1D7FF) {
        *out = (unsigned char)('0' + (cp - 0x1D7CE) % 10);
        *obf = 1;
        return GR_F_LETTER;
    }
    if (cp >= 0x24B6 && cp <= 0x24CF) base = 0x24B6;        /* circled capitals */
    else if (cp >= 0x24D0 && cp <= 0x24E9) base = 0x24D0;   /* circled small */
    else if (cp >= 0x249C && cp <= 0x24B5) base = 0x249C;   /* parenthesized */
    else if (cp >= 0x1F130 && cp <= 0x1F149) base = 0x1F130; /* squared */
    else if (cp >= 0x1F150 && cp <= 0x1F169) base = 0x1F150; /* negative circled */
    else if (cp >= 0x1F170 && cp <= 0x1F189) base = 0x1F170; /* negative squared */
    else if (cp >= 0x1F1E6 && cp <= 0x1F1FF) base = 0x1F1E6; /* regional indicators */
    if (base && cp - base < span) {
        *out = (unsigned char)('a' + (cp - base));
        *obf = 1;
        return GR_F_LETTER;
    }
    if (space_or_symbol(cp)) return GR_F_SEP;
    return GR_F_OTHER;
}

size_t gr_utf8_dec(const unsigned char *s, size_t n, size_t i, uint32_t *cp)
{
    unsigned c = s[i];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n - i < len) return 0;
    for (size_t k = 1; k < len; k++) {
        unsigned d = s[i + k];
        if ((d & 0xC0) != 0x80) return 0;
        v = (v << 6) | (d & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}
