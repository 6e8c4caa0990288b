#ifndef KVZ_BASE_BANNED_H
#define KVZ_BASE_BANNED_H

/*
 * Functions that overflow buffers, truncate silently or hide state in a
 * static buffer. The build puts this header in front of every C file
 * (-include in CMakeLists.txt), so a use anywhere is a compile error. The
 * system headers that declare them are included first, so their own
 * declarations stay untouched. Use struct kvz_buf or snprintf for strings,
 * gmtime_r/localtime_r/strftime for times, mkstemp/mkdtemp for temporaries.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#undef strcpy
#define strcpy(x, y) sorry_strcpy_is_banned_use_kvz_buf
#undef strcat
#define strcat(x, y) sorry_strcat_is_banned_use_kvz_buf
#undef strncpy
#define strncpy(x, y, n) sorry_strncpy_is_banned_use_snprintf
#undef strncat
#define strncat(x, y, n) sorry_strncat_is_banned_use_kvz_buf
#undef sprintf
#define sprintf(...) sorry_sprintf_is_banned_use_snprintf
#undef vsprintf
#define vsprintf(...) sorry_vsprintf_is_banned_use_vsnprintf
#undef strtok
#define strtok(x, y) sorry_strtok_is_banned_use_strtok_r
#undef gets
#define gets(x) sorry_gets_is_banned
#undef gmtime
#define gmtime(t) sorry_gmtime_is_banned_use_gmtime_r
#undef localtime
#define localtime(t) sorry_localtime_is_banned_use_localtime_r
#undef ctime
#define ctime(t) sorry_ctime_is_banned_use_strftime
#undef asctime
#define asctime(t) sorry_asctime_is_banned_use_strftime
#undef mktemp
#define mktemp(t) sorry_mktemp_is_banned_use_mkstemp

#endif
