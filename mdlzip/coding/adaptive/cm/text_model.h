/* Text model: contexts of words, lines, markup, punctuation and the shape of the recent text.

   Predicts from the current word (letters case-folded, so "The" and "the" share statistics) with
   the one two back (a skip-gram), with the two before it (a trigram), and with the byte before
   it; the bytes between words with the words around them; the last five letters across word
   boundaries, and the last three with the previous word; the character above in the previous
   line (columns of tables, aligned source) with the column; the first two bytes of the line (list
   items, table rows, headings); the recent text's shape (the classes of the last bytes, runs of
   letters or digits folded) with the nesting of brackets, quotes and tags, and a shorter shape
   with the last two bytes (enwik6 -0.2%); the innermost open bracket, brace, paren or tag with its
   first word, with what is being written. (The word alone, the character above with the previous
   byte, the last markup tag with the word and the last number went in 0.9: with the contexts
   below each paid under 0.02%, and their time paid for three that pay more.)

   The last two punctuation bytes (neither letter, digit nor space) say where in the syntax of
   prose, markup or code the text stands; with the shape of what followed them they predict what
   comes next better than the bytes do (enwik6: with the current word -0.2%; with the shape, the
   line's first bytes and the previous word -0.4%, which made the plain word pair redundant; as a
   mixer selector in predictor.c -0.25%).

   After paq8px's word model: the groups of the last eight bytes (letters by case, digits, and
   punctuation as itself), alone and the last four with the next byte; the current word's length
   and its last letters as vowels and consonants (word endings: -0.1% on enwik6, -0.14% on the
   kinds files); the current word with how long ago it last ended (log2); the last field or
   attribute name (a word followed by ':' or '=') with the current word; the current line with the
   last byte (a paragraph's own vocabulary); the bytes between words with the previous word. With
   these, enwik6, enwik5 and the kinds files code 0.5% smaller, and three contexts that repeated
   others went (the words with the gap between them, the word with the last punctuation and byte,
   the punctuation with the last two bytes). Later, also after it: the current word with the
   1 KiB block it is in (a passage's own vocabulary), the last five words of a phrase (words
   separated by single spaces, dropped at any other punctuation), and the previous word with the
   bytes since it and how recently the current word was seen; the word-ending context knows
   whether the letters so far were once a whole word; and the words before a sentence's first are
   forgotten at its start (". " "! " "? "), so sentence openings share statistics (with the four
   removals above: enwik6 -0.25%, enwik5 -0.2%).

   After paq8px's text model, a rough grammar: the current word with the kinds of the last three
   words (a short word as itself, a longer one by its inflection: -ing, -ed, -s, ...) and with the
   previous word's stem, so that "walked" and "walks" before a word share what they predict
   (enwik6 -0.1%).

   For tables and code: the field of the line (separators so far) with how far into it the text
   is and the previous byte (the kinds CSV -2.7%: its rows vary in length, so the record model
   finds no period in them), and the indentation of this line and the previous one with the
   current word (markup -1.3%, Python source -0.25%).

   For lines, names and markup (0.12): the column with the previous byte's class, and how far the
   column is from the lines' width (the longest recent line, one less for each line short of it)
   with that class: in text wrapped at a width a line ends where the next word would not fit (the
   kinds text, wrapped at 70 columns, coded its newlines 40% larger than paq8px -8 before, 10%
   after); the current word alone (gone in 0.9, it pays again beside these); the current
   identifier (letters, '_' and digits after them, as code names things: enwik6 -0.06%); and
   markup elements, after paq8px's XML model: how many are open with the column while the line
   is still indenting, and the innermost open element's name with the name of the tag being
   closed (an XSL stylesheet: -4.4%). Contexts that say nothing in a place are off there (the
   column where lines are longer than 120 bytes, the word and identifier between them, the
   markup ones outside tags and indentation, the field context before a line's first separator):
   no time, no noise (enwik5 -0.1%). With them: enwik6 -0.13%, enwik5 -0.13%, the kinds files
   -0.43%, in the same time.

   The region of the text (text_region): a URL, an entity, a link's target or label, a template, a
   heading, emphasis (wiki markup), a markup tag, a line begun as a list item, an indented line or
   a table row, a quotation, parentheses. Where the text is in one, the current word and the last
   byte with the shortest shape each with the region (off in plain text: no time there) make
   enwik5 0.09% smaller and the kinds files 0.02% (Python source -0.12%) in 2% more instructions;
   as the first mixer's selector it pays more (predictor.c). With both: enwik6 -0.35%.

   Case: on enwik5 the case bit of words' first letters costs about 450 B of the 7,000 B they
   cost; the letter is what costs. Contexts of the last three words' cases (lower, capitalised,
   all capitals) with whether a sentence just started and the region, with the previous word and
   byte, the two previous words or the current word, paid at most 2 B on enwik5; sharing the
   letters' second nibble across case paid more (TEXT_FOLDED, predictor.c), and the sentence state
   goes to an APM. */
#ifndef MDLZIP_CM_TEXT_MODEL_H
#define MDLZIP_CM_TEXT_MODEL_H

#include "common.h"
#include "history.h"

#define TEXT_CONTEXTS 37
#define TEXT_REGIONS 14 /* text_region's values */
/* The contexts whose second nibble is case-folded in text (predictor.c): those of the words,
   the letters, the word's endings and kinds, the phrase and the gap after the last word. */
#define TEXT_FOLDED 0x89cfb0651ull
#define NEST_MAX 8
#define ELEMENTS_MAX 16

/* Where the text is in a markup tag (markup_update). */
enum { TAG_NONE, TAG_OPEN, TAG_NAME, TAG_ATTRIBUTES, TAG_CLOSING };

typedef struct {
    uint64_t word[3];      /* the current word (0 between words) and the two before it */
    uint64_t gap;          /* the bytes since the last word ended (0 inside a word) */
    uint64_t letters;      /* the last letters, across word boundaries, case-folded */
    uint32_t shape;        /* 3-bit byte classes, newest lowest */
    uint8_t before_word;   /* the byte before the current or last word */
    uint8_t caps;          /* 1: the current word began with a capital */
    uint8_t sentence;      /* where the next word stands: 0 in a sentence, 1 after its end (". "), 2 at a line's start */
    int32_t col;           /* bytes since the last newline */
    int64_t line_start, prev_line_start; /* times of the current and previous lines' first bytes */
    int16_t paren, square, curly, angle; /* nesting depths, saturated */
    uint8_t quote;
    uint8_t depth, naming;         /* open constructs; name bytes still to take */
    uint64_t name[NEST_MAX];       /* each open construct's opening byte and first word */
    uint16_t line_head;            /* the first two bytes of the current line */
    uint16_t punct;                /* the last two bytes that were neither letters, digits nor spaces, newest lowest */
    uint64_t groups;               /* the last 8 bytes' groups: a letter as a or A, a digit as 0, others as themselves */
    uint32_t vowels;               /* the current word's last 4 letters as e, other vowel, y or consonant */
    uint8_t wlen;                  /* the current word's length, saturated at 15 */
    uint64_t keyword;              /* the last word followed by ':' or '=' (a field or attribute name) */
    uint64_t prefix[14];           /* the current word's hash after each of its first 14 letters */
    uint64_t stem;                 /* the last word's stem (word_end) */
    uint32_t kinds;                /* the last four words' kinds, newest lowest */
    int32_t indent, prev_indent;   /* the leading spaces and tabs of the current and previous lines */
    uint8_t field;                 /* the field of the line being written: separators (, ; tab |) so far */
    int32_t field_start;           /* col where it began */
    uint64_t expr[5];              /* words separated by single spaces: the current one and four before */
    int32_t width;                 /* the lines' width: the longest recent line's length, one less for each line short of it */
    uint64_t ident;                /* the current identifier: letters, '_' and digits after either (0 outside one) */
    uint8_t tag;                   /* TAG_*: where in a markup tag the text is */
    uint64_t tag_name;             /* the name of the tag being read */
    int32_t elements;              /* open markup elements, saturated at 31 */
    uint64_t element[ELEMENTS_MAX];/* their names, innermost last (the first ELEMENTS_MAX) */
    uint8_t link;                  /* in a [[link]] (1 its target, 2 its label after '|') or a [bracket] (3 before its first space, 4 after) */
    uint8_t template_, emphasis;   /* in a {{template}}; wiki emphasis open: bit 0 '' (italic), bit 1 ''' (bold) */
    uint8_t apostrophes;           /* the run of apostrophes just read, saturated at 7 */
    uint8_t entity, url;           /* in an entity (&name;), in a URL (after "//", to a space or a closing byte) */
    uint64_t seen_word[4096];      /* words by the top bits of their hash, each with the time it last ended */
    int64_t seen_at[4096];
} TextStream;

static inline void text_stream_init(TextStream *ts) {
    memset(ts, 0, sizeof *ts);
    ts->prev_line_start = -1;
}

static inline int is_letter(int b) { return (b | 0x20) >= 'a' && (b | 0x20) <= 'z'; }

static inline int byte_class(int b) {
    if (is_letter(b)) return b >= 'a' ? 1 : 2;
    if (b >= '0' && b <= '9') return 3;
    if (b == ' ' || b == '\t') return 0;
    if (b == '\n' || b == '\r') return 4;
    if (b >= 128) return 5;
    if (b == '.' || b == ',' || b == ';' || b == ':' || b == '!' || b == '?') return 6;
    return 7;
}

static inline int is_word_byte(int b) { return is_letter(b) || b >= 128; }

static inline int16_t sat_step(int16_t d, int up, int down) {
    d += up - down;
    return d < 0 ? 0 : d > 15 ? 15 : d;
}

/* A case-folded letter as the sound class word endings follow: e, another vowel, y, a consonant. */
static inline uint32_t letter_kind(int f) {
    if (f == 'e' || f == 'y') return (uint32_t)f;
    if (f == 'a' || f == 'i' || f == 'o' || f == 'u') return 'a';
    return f >= 128 ? 128 : 'b';
}

/* A byte's group: letters by case, digits, UTF-8 lead and continuation bytes; others stand for themselves. */
static inline int byte_group(int b) {
    if (b >= 128) return (b & 0xe0) == 0xc0 ? 3 : (b & 0xc0) == 0x80 ? 4 : 5;
    if (b >= '0' && b <= '9') return '0';
    if (b >= 'a' && b <= 'z') return 'a';
    if (b >= 'A' && b <= 'Z') return 'A';
    return b;
}

/* Inflections stripped to find a word's stem, longest first, as their letters newest lowest. */
static const struct { uint32_t letters, mask; int n; } SUFFIXES[] = {
    {0x696e67, 0xffffff, 3} /* ing */, {0x696573, 0xffffff, 3} /* ies */, {0x657374, 0xffffff, 3} /* est */,
    {0x696f6e, 0xffffff, 3} /* ion */, {0x6c79, 0xffff, 2} /* ly */, {0x6564, 0xffff, 2} /* ed */,
    {0x6572, 0xffff, 2} /* er */, {0x6573, 0xffff, 2} /* es */, {0x73, 0xff, 1} /* s */,
};
#define N_SUFFIXES (int)(sizeof SUFFIXES / sizeof SUFFIXES[0])

/* At the end of a word: its stem (the word less the first inflection it ends in, keeping three
   letters; a word of 15 letters or more is its own stem) and its kind, which stands in for the
   word's part of speech: a word of at most three letters (the function words: the, of, and, a,
   to, in) stands for itself, hashed to 7 bits; a longer one by its inflection and capital. */
static inline void word_end(TextStream *ts) {
    int n = ts->wlen, kind = 0;
    uint64_t stem = ts->word[0];
    for (int i = 0; i < N_SUFFIXES && n > 3 && n < 15; i++)
        if (((uint32_t)ts->letters & SUFFIXES[i].mask) == SUFFIXES[i].letters && n - SUFFIXES[i].n >= 3) {
            stem = ts->prefix[n - SUFFIXES[i].n - 1];
            kind = i + 1;
            break;
        }
    ts->stem = stem;
    uint32_t k = n <= 3 ? (uint32_t)(ts->word[0] >> 57) | 0x80 : (uint32_t)kind << 1 | ts->caps;
    ts->kinds = ts->kinds << 8 | k;
}

/* Whether the current line has had only spaces and tabs (the first line, without a newline
   before it, never indents). */
static inline int in_indent(const TextStream *ts) { return ts->prev_line_start >= 0 && ts->indent == ts->col; }

/* Markup elements (XML, HTML): "<name ...>" opens one, "</name>" closes the innermost, and
   "<name .../>", "<!...>" and "<?...>" neither. */
static inline void markup_update(TextStream *ts, uint8_t b, int prev) {
    int name_byte = is_letter(b) || (b >= '0' && b <= '9') || b == ':' || b == '-' || b == '_' || b == '.';
    if (b == '<') {
        ts->tag = TAG_OPEN;
    } else if (ts->tag == TAG_OPEN) {
        ts->tag = is_letter(b) ? TAG_NAME : b == '/' ? TAG_CLOSING : TAG_NONE;
        ts->tag_name = is_letter(b) ? hash2(0x3c, b) : 0x3c;
    } else if ((ts->tag == TAG_NAME || ts->tag == TAG_CLOSING) && name_byte) {
        ts->tag_name = hash2(ts->tag_name, b);
    } else if (ts->tag == TAG_NAME || ts->tag == TAG_ATTRIBUTES) {
        ts->tag = TAG_ATTRIBUTES;
        if (b == '>') {
            if (prev != '/') {
                if (ts->elements < ELEMENTS_MAX) ts->element[ts->elements] = ts->tag_name;
                if (ts->elements < 31) ts->elements++;
            }
            ts->tag = TAG_NONE;
        }
    } else if (ts->tag == TAG_CLOSING) {
        if (b == '>' && ts->elements > 0) ts->elements--;
        ts->tag = TAG_NONE;
    }
}

/* Wiki markup (and the like): links, templates, emphasis, entities, URLs. */
static inline void region_update(TextStream *ts, uint8_t b, int prev) {
    if (b == '\'') {
        if (ts->apostrophes < 7) ts->apostrophes++;
    } else {
        if (ts->apostrophes == 2) ts->emphasis ^= 1;
        else if (ts->apostrophes == 3) ts->emphasis ^= 2;
        else if (ts->apostrophes >= 5) ts->emphasis ^= 3;
        ts->apostrophes = 0;
    }
    if (b == '[') ts->link = prev == '[' ? 1 : 3;
    else if (b == '|' && ts->link == 1) ts->link = 2;
    else if (b == ' ' && ts->link == 3) ts->link = 4;
    else if (b == ']' || b == '\n') ts->link = 0;
    if (b == '{' && prev == '{') ts->template_ = 1;
    else if (b == '}' && prev == '}') ts->template_ = 0;
    if (b == '&') ts->entity = 1;
    else if (!(is_letter(b) || (b >= '0' && b <= '9') || b == '#')) ts->entity = 0;
    if (b == '/' && prev == '/') ts->url = 1;
    else if (b <= ' ' || b == ']' || b == '|' || b == '<' || b == '>' || b == '"') ts->url = 0;
    if (b == '\n') ts->emphasis = 0;
}

/* The region of the text the next byte is in, the innermost or most telling first: 0 plain text,
   1 a URL, 2 an entity, 3 a link's target, 4 its label, 5 a template, 6 a heading line, 7 emphasis,
   8 a markup tag, 9-11 a line begun as a list item ('*' '#'), an indented or defined one (':' ';'),
   a table row ('|' '!'), 12 a quotation, 13 parentheses. */
static inline int text_region(const TextStream *ts) {
    int head = ts->line_head & 0xff;
    if (ts->tag != TAG_NONE) return 8;
    if (ts->url) return 1;
    if (ts->entity) return 2;
    if (ts->link == 1 || ts->link == 3) return 3;
    if (ts->link) return 4;
    if (ts->template_) return 5;
    if (head == '=') return 6;
    if (ts->emphasis) return 7;
    if (head == '*' || head == '#') return 9;
    if (head == ':' || head == ';') return 10;
    if (head == '|' || head == '!') return 11;
    if (ts->quote) return 12;
    if (ts->paren) return 13;
    return 0;
}

/* After byte b, the t-th of its stream. */
static inline void text_update(TextStream *ts, uint8_t b, int64_t t, int prev) {
    if (is_word_byte(b)) {
        if (!ts->word[0]) {
            ts->before_word = (uint8_t)prev;
            ts->caps = (b >= 'A' && b <= 'Z');
        }
        uint64_t folded = (uint64_t)(b >= 'A' && b <= 'Z' ? b | 0x20 : b);
        ts->word[0] = hash2(ts->word[0], folded) | 1;
        if (ts->wlen < 14) ts->prefix[ts->wlen] = ts->word[0];
        ts->letters = (ts->letters << 8) | folded;
        if (ts->wlen < 15) ts->wlen++;
        ts->vowels = ts->vowels << 8 | letter_kind((int)folded);
    } else {
        if (ts->word[0]) {
            if (b == ':' || b == '=') ts->keyword = ts->word[0];
            word_end(ts);
            ts->sentence = 0;
            ts->seen_word[ts->word[0] >> 52] = ts->word[0];
            ts->seen_at[ts->word[0] >> 52] = t;
            ts->wlen = 0;
            ts->vowels = 0;
            ts->word[2] = ts->word[1];
            ts->word[1] = ts->word[0];
            ts->word[0] = 0;
            ts->gap = 0;
        }
        ts->gap = hash2(ts->gap, b);
    }
    if ((b == ' ' || b == '\n') && (prev == '?' || prev == '!' || prev == '.')) {
        ts->word[1] = ts->word[2] = 0;
        ts->sentence = 1;
    }
    if (b == '\n') ts->sentence = 2;
    ts->ident = is_letter(b) || b == '_' || (b >= '0' && b <= '9' && ts->ident) ? hash2(ts->ident, b) | 1 : 0;
    markup_update(ts, b, prev);
    region_update(ts, b, prev);
    ts->groups = ts->groups << 8 | (uint64_t)byte_group(b);
    int cls = byte_class(b), last = ts->shape & 7;
    if (!(cls == last && (cls == 1 || cls == 3))) ts->shape = (ts->shape << 3) | (uint32_t)cls;
    if (b == '\n') {
        ts->width = ts->col > ts->width ? ts->col : ts->width - (ts->width > 0);
        ts->prev_line_start = ts->line_start;
        ts->line_start = t + 1;
        ts->col = 0;
        ts->prev_indent = ts->indent;
        ts->indent = 0;
        ts->field = 0;
        ts->field_start = 0;
    } else {
        int indenting = in_indent(ts);
        if (ts->col < (1 << 30)) ts->col++;
        if (indenting && (b == ' ' || b == '\t')) ts->indent = ts->col;
        if (b == ',' || b == ';' || b == '\t' || b == '|') {
            if (ts->field < 255) ts->field++;
            ts->field_start = ts->col;
        }
    }
    if (is_letter(b)) ts->expr[0] = hash2(ts->expr[0], (uint64_t)(b | 0x20)) | 1;
    else if ((b == ' ' || b == '\n') && is_letter(prev)) {
        memmove(ts->expr + 1, ts->expr, 4 * sizeof(uint64_t));
        ts->expr[0] = 0;
    } else if (!(b == '\'' || b == '"' || (b == '\n' && prev == ' ') || (b == ' ' && prev == '\n'))) memset(ts->expr, 0, sizeof ts->expr);
    ts->paren = sat_step(ts->paren, b == '(', b == ')');
    ts->square = sat_step(ts->square, b == '[', b == ']');
    ts->curly = sat_step(ts->curly, b == '{', b == '}');
    ts->angle = sat_step(ts->angle, b == '<', b == '>');
    if (ts->naming && ts->depth) {
        if (is_word_byte(b) || (b >= '0' && b <= '9')) ts->name[ts->depth - 1] = hash2(ts->name[ts->depth - 1], b);
        else ts->naming = 0;
    }
    if (b == '\n') ts->line_head = 0;
    else if (ts->col <= 2) ts->line_head = (uint16_t)((ts->col == 1 ? 0 : ts->line_head) | b << (8 * (ts->col - 1)));
    if (b == '<' || b == '[' || b == '{' || b == '(') {
        if (ts->depth < NEST_MAX) ts->depth++;
        ts->name[ts->depth - 1] = b;
        ts->naming = 1;
    } else if ((b == '>' || b == ']' || b == '}' || b == ')') && ts->depth) {
        ts->depth--;
        ts->naming = 0;
    }
    if (!is_word_byte(b) && !(b >= '0' && b <= '9') && b != ' ') ts->punct = (uint16_t)(ts->punct << 8 | b);
    if (b == '"') ts->quote ^= 1;
    if (b == '\n') ts->quote = 0;
}

/* The byte above the next one: same column, previous line (0 if that line was shorter). */
static inline int text_above(const TextStream *ts, const History *h, int s, int64_t t) {
    if (ts->prev_line_start < 0) return 0;
    int64_t pos = ts->prev_line_start + ts->col;
    if (pos >= ts->line_start - 1) return 0;
    return h->bytes[(int64_t)s * h->L + pos];
}

/* The text contexts for the next byte, the t-th of its stream (c8 = the last 8 bytes, newest lowest;
   above = text_above); returns those that are off for it, bit i for out[i]. */
static inline uint64_t text_contexts(const TextStream *ts, uint64_t c8, int above, int64_t t, uint64_t *out) {
    int c1 = (int)(c8 & 0xff);
    uint64_t w0 = ts->word[0] ? ts->word[0] : hash2(0x57, (uint64_t)c1);
    uint64_t nest = (uint64_t)(ts->paren > 3 ? 3 : ts->paren) | (uint64_t)(ts->square > 3 ? 3 : ts->square) << 2 |
                    (uint64_t)(ts->curly > 3 ? 3 : ts->curly) << 4 | (uint64_t)(ts->angle ? 1 : 0) << 6 | (uint64_t)ts->quote << 7;
    int cf = c1 >= 'A' && c1 <= 'Z' ? c1 | 0x20 : c1;
    int may_end = ts->word[0] && ts->seen_word[ts->word[0] >> 52] == ts->word[0]; /* the letters so far were once a word */
    int recency = 0; /* log2 of the bytes since the current word last ended, 0 if it never has */
    if (may_end)
        for (int64_t d = t - ts->seen_at[ts->word[0] >> 52]; d > 0 && recency < 24; d >>= 1) recency++;
    out[0] = hash3(4, w0, ts->word[2]);
    out[1] = hash3(5, w0, (uint64_t)ts->before_word << 8 | ts->caps);
    out[2] = hash3(7, (uint64_t)above, (uint64_t)(ts->col > 255 ? 255 : ts->col));
    out[3] = hash3(8, ts->shape & 0x3ffff, nest);
    out[4] = hash3(11, ts->letters & 0xffffffffffull, ts->word[0] != 0);
    out[5] = hash3(12, ts->depth ? ts->name[ts->depth - 1] : 0, (uint64_t)c1 << 8 | ts->depth);
    out[6] = hash3(13, ts->depth ? ts->name[ts->depth - 1] : 0, w0);
    out[7] = hash3(14, ts->line_head, (uint64_t)c1 << 8 | (uint64_t)(ts->col > 15 ? 15 : ts->col));
    out[8] = hash2(16, hash3(ts->shape & 0x3fff, c8 & 0xffff, ts->word[0] != 0));
    out[9] = hash3(17, w0, hash2(ts->word[1], ts->word[2]));
    out[10] = hash3(19, ts->letters & 0xffffff, ts->word[1]);
    out[11] = hash3(24, ts->punct, ts->shape & 0x1ff);
    out[12] = hash3(25, ts->punct, hash2(ts->line_head, ts->shape & 0x1ff));
    out[13] = hash3(26, ts->punct, hash2(ts->word[1], ts->shape & 0x1ff));
    out[14] = hash2(27, ts->groups);
    out[15] = hash3(28, ts->groups & 0xffffffffull, (uint64_t)cf);
    out[16] = hash3(30, ts->gap, hash2(ts->word[1], (uint64_t)cf));
    out[17] = hash3(31, (uint64_t)ts->wlen << 8 | ts->caps << 1 | (uint64_t)may_end, ts->vowels);
    out[18] = hash3(32, (uint64_t)ts->line_start, (uint64_t)cf);
    out[19] = hash3(33, ts->keyword, hash2(w0, (uint64_t)cf));
    out[20] = hash3(34, w0, (uint64_t)recency);
    out[21] = hash3(21, w0, ts->punct);
    out[22] = hash3(40, ts->kinds & 0xffffff, w0);
    out[23] = hash3(41, ts->stem, w0);
    int32_t in_field = ts->col - ts->field_start;
    out[24] = hash3(43, (uint64_t)ts->field << 8 | (uint64_t)(in_field > 15 ? 15 : in_field), (uint64_t)c1);
    out[25] = hash3(42, (uint64_t)(ts->indent > 255 ? 255 : ts->indent) << 8 | (uint64_t)(ts->prev_indent > 255 ? 255 : ts->prev_indent),
                    hash2(w0, (uint64_t)in_indent(ts)));
    out[26] = hash3(44, (uint64_t)(t >> 10), w0);
    out[27] = hash3(45, hash2(ts->expr[0], ts->expr[1]), hash3(ts->expr[2], ts->expr[3], ts->expr[4]));
    out[28] = hash3(48, hash2(ts->word[1], ts->gap), (uint64_t)recency);
    int32_t col = ts->col > 255 ? 255 : ts->col, room = ts->width - ts->col;
    out[29] = hash3(50, (uint64_t)col, (uint64_t)byte_class(c1));
    out[30] = hash3(52, (uint64_t)(room < -4 ? 0 : room > 27 ? 31 : room + 4), (uint64_t)byte_class(c1));
    out[31] = hash2(53, w0);
    out[32] = hash2(55, ts->ident);
    out[33] = hash3(56, (uint64_t)ts->elements << 1 | (uint64_t)in_indent(ts), (uint64_t)col);
    uint64_t inner = ts->elements > 0 && ts->elements <= ELEMENTS_MAX ? ts->element[ts->elements - 1] : 0;
    out[34] = hash3(58, inner, ts->tag == TAG_CLOSING ? ts->tag_name : (uint64_t)ts->tag << 8 | (uint64_t)c1);
    int region = text_region(ts);
    out[35] = hash3(60, (uint64_t)region, w0);
    out[36] = hash3(61, (uint64_t)region, (uint64_t)c1 << 8 | (ts->shape & 0x3f));
    uint64_t idle = 0; /* the contexts that say nothing here: off, so they neither cost time nor add noise */
    if (!ts->field) idle |= 1ull << 24;
    if (ts->width > 120) idle |= 1ull << 29;
    if (!ts->word[0]) idle |= 1ull << 31;
    if (!ts->ident) idle |= 1ull << 32;
    if (!in_indent(ts) && ts->tag == TAG_NONE) idle |= 1ull << 33;
    if (ts->tag == TAG_NONE) idle |= 1ull << 34;
    if (!region) idle |= 3ull << 35;
    return idle;
}

#endif
