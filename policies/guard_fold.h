/* policies/guard_fold.h — private: Unicode folding for the injection scorer. */
#ifndef POL_GUARD_FOLD_H
#define POL_GUARD_FOLD_H

#include <stddef.h>
#include <stdint.h>

enum {
    GR_F_SEP = 0,    /* ends a word */
    GR_F_LETTER = 1, /* *out holds an ASCII letter (lower case) or digit */
    GR_F_DROP = 2,   /* invisible: ignored, the word goes on */
    GR_F_OTHER = 3,  /* a letter of another script: part of a word, never matches */
};

/* Folds cp; *obf = 1 when the form is a known disguise (look-alike,
 * fullwidth, invisible, tag character...). */
int gr_fold_cp(uint32_t cp, unsigned char *out, int *obf);

/* Decodes one UTF-8 sequence at s[i]; its length, or 0 if invalid
 * (overlong, surrogate, truncated). */
size_t gr_utf8_dec(const unsigned char *s, size_t n, size_t i, uint32_t *cp);

#endif
