/* units.h - sizes and durations as people write them ("1MiB", "500ms").
 *
 * One parser (and one formatter) for the environment variables of the library and, later, the
 * config file, so that both accept exactly the same spellings.
 */
#ifndef FR_COMMON_UNITS_H
#define FR_COMMON_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* "4096", "64k", "64KiB", "1M", "1MiB", "1G", "1GiB" (binary multiples;
 * case-insensitive suffix). Returns 0, -EINVAL (not a size) or -ERANGE. */
int units_parse_size(const char *s, uint64_t *out);

/* "250ns", "10us", "500ms", "1.5s", "2m", "1h"; a bare number is seconds.
 * Returns 0, -EINVAL or -ERANGE; *out in ns. */
int units_parse_duration(const char *s, uint64_t *out);

/* v in bytes as the largest binary unit that divides it: "256MiB", "1GiB",
 * "4096". Always NUL-terminates buf (len > 0); 24 bytes suffice. */
void units_format_size(char *buf, size_t len, uint64_t v);

/* ns as the largest unit that divides it: "100ms", "1h", "0ns". Always
 * NUL-terminates buf (len > 0); 24 bytes suffice. */
void units_format_duration(char *buf, size_t len, uint64_t ns);

#endif
