#ifndef KVZ_BASE_BANNED_H
#define KVZ_BASE_BANNED_H

/*
 * Functions that overflow buffers or hide state. Included last by every
 * source file of the library (through the compiler's -include), so a use is a
 * compile error. Use struct kvz_buf or snprintf instead.
 */
#undef strcpy
#define strcpy(x, y) sorry_strcpy_is_banned_use_kvz_buf
#undef strcat
#define strcat(x, y) sorry_strcat_is_banned_use_kvz_buf
#undef sprintf
#define sprintf(...) sorry_sprintf_is_banned_use_snprintf
#undef vsprintf
#define vsprintf(...) sorry_vsprintf_is_banned_use_vsnprintf
#undef strtok
#define strtok(x, y) sorry_strtok_is_banned_use_strtok_r
#undef gets
#define gets(x) sorry_gets_is_banned

#endif
