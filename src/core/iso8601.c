#include "core/iso8601.h"

#include <stdio.h>
#include <string.h>

static bool read_digits(const char **p, int count, int *out);
static bool is_leap(int year);
static int days_in_month(int year, int month);
static int64_t days_from_civil(int64_t y, int m, int d);
static void civil_from_days(int64_t z, int *y, int *m, int *d);
static char *put_digits(char *p, int64_t v, int width);

bool iso8601_parse(const char *s, int64_t *out_us)
{
	const char *p = s;
	int year, month, day, hour, minute, second = 0;
	int64_t frac_us = 0;

	if (!read_digits(&p, 4, &year) || *p++ != '-' || !read_digits(&p, 2, &month) ||
	    *p++ != '-' || !read_digits(&p, 2, &day))
		return false;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return false;
	p++;
	if (!read_digits(&p, 2, &hour) || *p++ != ':' || !read_digits(&p, 2, &minute))
		return false;
	if (*p == ':') {
		p++;
		if (!read_digits(&p, 2, &second))
			return false;
		if (*p == '.' || *p == ',') {
			p++;
			int scale = 100000, ndigits = 0;
			while (*p >= '0' && *p <= '9') {
				frac_us += (*p - '0') * scale;
				scale /= 10;
				p++;
				if (++ndigits > 9)
					return false;
			}
			if (ndigits == 0)
				return false;
		}
	}
	if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
	    minute > 59 || second > 59)
		return false;

	int offset_min;
	if (*p == 'Z' || *p == 'z') {
		offset_min = 0;
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (!read_digits(&p, 2, &oh))
			return false;
		if (*p == ':')
			p++;
		if (!read_digits(&p, 2, &om) || oh > 23 || om > 59)
			return false;
		offset_min = sign * (oh * 60 + om);
	} else {
		return false;
	}
	if (*p != '\0')
		return false;

	int64_t days = days_from_civil(year, month, day);
	int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_min * 60;
	/* Only instants whose UTC date has four digits: what iso8601_format writes. */
	if (secs < ISO8601_MIN_SECONDS || secs > ISO8601_MAX_SECONDS)
		return false;
	*out_us = secs * 1000000 + frac_us;
	return true;
}

/* Formatting by hand: list responses format three times per task, and
 * snprintf dominated their profile. */
void iso8601_format(int64_t us, char out[ISO8601_LEN])
{
	int64_t secs = us / 1000000, rem = us % 1000000;
	if (rem < 0) {
		rem += 1000000;
		secs--;
	}
	int64_t days = secs / 86400, sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	/* A list's times fall on a few days: the calendar arithmetic is done
	 * again only when the day differs from the last one this thread wrote. */
	static _Thread_local int64_t last_days = INT64_MIN;
	static _Thread_local char last_date[10];
	if (days != last_days) {
		int y, m, d;
		civil_from_days(days, &y, &m, &d);
		if (y < 0 || y > 9999) { /* outside what four digits can say */
			snprintf(out, ISO8601_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d,
			         (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60),
			         (int)(rem / 1000));
			return;
		}
		char *q = put_digits(last_date, y, 4);
		*q++ = '-';
		q = put_digits(q, m, 2);
		*q++ = '-';
		put_digits(q, d, 2);
		last_days = days;
	}
	memcpy(out, last_date, sizeof last_date);
	char *p = out + sizeof last_date;
	*p++ = 'T';
	p = put_digits(p, sod / 3600, 2);
	*p++ = ':';
	p = put_digits(p, sod / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, sod % 60, 2);
	*p++ = '.';
	p = put_digits(p, rem / 1000, 3);
	*p++ = 'Z';
	*p = '\0';
}

static char *put_digits(char *p, int64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + width;
}

static bool read_digits(const char **p, int count, int *out)
{
	int v = 0;
	for (int i = 0; i < count; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += count;
	*out = v;
	return true;
}

static bool is_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

/* Howard Hinnant's algorithms: proleptic Gregorian calendar <-> days since 1970-01-01. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}
