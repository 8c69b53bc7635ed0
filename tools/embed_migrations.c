/* Build tool: turns migrations/NNN_name.sql files into a C array compiled
 * into taskflow (see store/migrate.h for the struct it fills). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int emit_file(FILE *out, const char *path)
{
	FILE *in = fopen(path, "rb");
	if (in == NULL) {
		perror(path);
		return -1;
	}
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	fprintf(out, "\t{\"%s\",\n\t\"", base);
	int c;
	while ((c = fgetc(in)) != EOF) {
		if (c == '\n') {
			fputs("\\n\"\n\t\"", out);
			continue;
		}
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\%03o", c);
		else
			fputc(c, out);
	}
	fputs("\"},\n", out);
	fclose(in);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s OUTPUT.c FILE.sql...\n", argv[0]);
		return 2;
	}
	FILE *out = fopen(argv[1], "w");
	if (out == NULL) {
		perror(argv[1]);
		return 1;
	}
	fputs("/* Generated from migrations/ by tools/embed_migrations.c. */\n"
	      "#include \"store/migrate.h\"\n\n"
	      "const struct migration migrations_embedded[] = {\n",
	      out);
	for (int i = 2; i < argc; i++)
		if (emit_file(out, argv[i]) != 0)
			return 1;
	fprintf(out, "};\n\nconst size_t migrations_embedded_count = %d;\n", argc - 2);
	return fclose(out) == 0 ? 0 : 1;
}
