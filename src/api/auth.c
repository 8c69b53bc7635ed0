/* POST /api/auth/sign-up, POST /api/auth/sign-in, GET /api/auth/me. */
#include "api/api.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/password.h"
#include "core/jsonx.h"
#include "store/users_sql.h"

#define EMAIL_MAX     254
#define PASSWORD_MIN  8
#define PASSWORD_MAX  1024
#define USER_NAME_MAX 100
#define USER_ID_LEN   24

struct auth_job {
	struct call_job base;
	const struct app *app;
	char *email;
	char *password;
	char *name;
	char user_id[TOKEN_SUBJECT_MAX + 1];
	char password_hash[PASSWORD_HASH_MAX]; /* computed, or read from the account */
	bool hash_ok;                          /* hashing worked / the password matched */
	json_t *user;                          /* the account, between steps */
};

static struct auth_job *read_credentials(struct call *c, bool with_name);
static bool valid_email(const char *email);
static char *trim_dup(const char *s);
static void new_user_id(char out[USER_ID_LEN + 1]);
static void reply_session(struct auth_job *job, int status, json_t *user);
static void free_auth_job(struct call_job *base);
static void hash_password(struct call_job *base);
static void sign_up_hashed(struct call_job *base);
static void sign_up_start(struct call_job *base, struct db_conn *conn);
static void sign_up_result(struct call_job *base, struct db_conn *conn, PGresult *r);
static void sign_in_start(struct call_job *base, struct db_conn *conn);
static void sign_in_result(struct call_job *base, struct db_conn *conn, PGresult *r);
static void verify_password(struct call_job *base);
static void sign_in_verified(struct call_job *base);
static void me_start(struct call_job *base, struct db_conn *conn);
static void me_result(struct call_job *base, struct db_conn *conn, PGresult *r);

/* Sign-up: hash (CPU worker) -> insert. */
void api_sign_up(struct call *c)
{
	struct auth_job *job = read_credentials(c, true);
	if (job)
		call_job_offload(&job->base, job->base.loop->cpu, hash_password, sign_up_hashed);
}

static void hash_password(struct call_job *base)
{
	struct auth_job *job = (struct auth_job *)base;
	job->hash_ok = password_hash(job->password, job->password_hash);
}

static void sign_up_hashed(struct call_job *base)
{
	struct auth_job *job = (struct auth_job *)base;
	if (!job->hash_ok) {
		reply_error(&base->reply, 500, "internal_error", "internal error", NULL);
		call_job_finish(base);
		return;
	}
	call_job_query(base, sign_up_start, sign_up_result);
}

static void sign_up_start(struct call_job *base, struct db_conn *conn)
{
	struct auth_job *job = (struct auth_job *)base;
	if (api_finish_if_down(base, conn))
		return;
	new_user_id(job->user_id);
	users_send_insert(conn, job->user_id, job->email, job->name, job->password_hash);
}

static void sign_up_result(struct call_job *base, struct db_conn *conn, PGresult *r)
{
	(void)conn;
	struct auth_job *job = (struct auth_job *)base;
	json_t *user = NULL;
	enum store_result res = users_read_insert(r, &user);
	if (res == STORE_CONFLICT)
		reply_error(&base->reply, 409, "email_taken", "an account with this email exists",
		            "email");
	else if (res != STORE_OK)
		api_reply_store_failure(&base->reply, res);
	else
		reply_session(job, 201, user);
	call_job_finish(base);
}

/* Sign-in: count the attempt -> find the account -> verify (CPU worker,
 * without holding a connection) -> clear the count on success. */
enum { SIGN_IN_ATTEMPT, SIGN_IN_FIND, SIGN_IN_CLEAR };

void api_sign_in(struct call *c)
{
	struct auth_job *job = read_credentials(c, false);
	if (job)
		call_job_query(&job->base, sign_in_start, sign_in_result);
}

static void sign_in_start(struct call_job *base, struct db_conn *conn)
{
	struct auth_job *job = (struct auth_job *)base;
	if (api_finish_if_down(base, conn))
		return;
	if (base->step == SIGN_IN_CLEAR) {
		sign_in_send_clear(conn, job->email);
	} else {
		base->step = SIGN_IN_ATTEMPT;
		sign_in_send_attempt(conn, job->email);
	}
}

static void sign_in_result(struct call_job *base, struct db_conn *conn, PGresult *r)
{
	struct auth_job *job = (struct auth_job *)base;
	enum store_result res;
	int locked_for = 0;
	char *hash = NULL;

	switch (base->step) {
	case SIGN_IN_ATTEMPT:
		res = sign_in_read_attempt(r, &locked_for);
		if (res != STORE_OK)
			break;
		if (locked_for > 0) {
			reply_error(&base->reply, 429, "too_many_requests",
			            "too many failed sign-ins for this email; try again later",
			            NULL);
			base->reply.retry_after = locked_for;
			call_job_finish(base);
			return;
		}
		base->step = SIGN_IN_FIND;
		users_send_find_by_email(conn, job->email);
		return;
	case SIGN_IN_FIND:
		res = users_read_find(r, &job->user, &hash);
		if (res != STORE_OK && res != STORE_NOT_FOUND)
			break;
		if (hash) {
			snprintf(job->password_hash, sizeof job->password_hash, "%s", hash);
			free(hash);
		}
		call_job_offload(base, base->loop->cpu, verify_password, sign_in_verified);
		return;
	default: /* SIGN_IN_CLEAR */
		res = store_check(r, "clear sign-in attempts");
		if (res == STORE_OK) {
			PQclear(r);
			reply_session(job, 200, job->user);
			job->user = NULL;
			call_job_finish(base);
			return;
		}
	}
	api_reply_store_failure(&base->reply, res);
	call_job_finish(base);
}

static void verify_password(struct call_job *base)
{
	struct auth_job *job = (struct auth_job *)base;
	if (job->user) {
		job->hash_ok = password_verify(job->password_hash, job->password);
	} else {
		/* No account: spend the same time, so timing tells nothing. */
		password_verify_dummy(job->password);
		job->hash_ok = false;
	}
}

static void sign_in_verified(struct call_job *base)
{
	struct auth_job *job = (struct auth_job *)base;
	if (!job->hash_ok) {
		reply_error(&base->reply, 401, "invalid_credentials",
		            "the email or password is wrong", NULL);
		call_job_finish(base);
		return;
	}
	snprintf(job->user_id, sizeof job->user_id, "%s",
	         json_string_value(json_object_get(job->user, "id")));
	base->step = SIGN_IN_CLEAR;
	call_job_query(base, sign_in_start, sign_in_result);
}

void api_me(struct call *c)
{
	if (!call_authenticate(c))
		return;
	struct auth_job *job = call_job_new(c, sizeof *job);
	job->base.cleanup = free_auth_job;
	snprintf(job->user_id, sizeof job->user_id, "%s", c->user_id);
	call_job_query(&job->base, me_start, me_result);
}

static void me_start(struct call_job *base, struct db_conn *conn)
{
	struct auth_job *job = (struct auth_job *)base;
	if (api_finish_if_down(base, conn))
		return;
	users_send_get(conn, job->user_id);
}

static void me_result(struct call_job *base, struct db_conn *conn, PGresult *r)
{
	(void)conn;
	json_t *user = NULL;
	enum store_result res = users_read_get(r, &user);
	if (res == STORE_NOT_FOUND)
		reply_error(&base->reply, 404, "not_found", "this user has no account here", NULL);
	else if (res != STORE_OK)
		api_reply_store_failure(&base->reply, res);
	else
		reply_json(&base->reply, 200, json_pack("{s:o}", "user", user));
	call_job_finish(base);
}

static void reply_session(struct auth_job *job, int status, json_t *user)
{
	char *token =
	    token_issue(&job->app->keys, job->user_id, time(NULL), job->app->cfg->jwt_ttl_seconds);
	if (token == NULL) {
		json_decref(user);
		reply_error(&job->base.reply, 500, "internal_error", "internal error", NULL);
		return;
	}
	reply_json(&job->base.reply, status, json_pack("{s:o, s:s}", "user", user, "token", token));
	free(token);
}

/* Validates the body; returns a job holding the credentials, or NULL after
 * answering the error. */
static struct auth_job *read_credentials(struct call *c, bool with_name)
{
	json_t *body;
	if (!call_read_json(c, false, &body))
		return NULL;
	struct auth_job *job = call_job_new(c, sizeof *job);
	job->app = c->app;
	job->base.cleanup = free_auth_job;

	const char *key, *field = NULL, *message = NULL, *code = "validation_failed";
	json_t *v;
	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "email") == 0 || strcmp(key, "password") == 0 ||
		    (with_name && strcmp(key, "name") == 0))
			continue;
		field = key;
		code = "unknown_field";
		message = "unknown field";
		break;
	}
	const char *email = json_string_value(json_object_get(body, "email"));
	const char *password = json_string_value(json_object_get(body, "password"));
	const char *name = json_string_value(json_object_get(body, "name"));
	size_t pwlen = password ? strlen(password) : 0;
	if (message) {
		/* unknown field, set above */
	} else if (email == NULL || !valid_email((job->email = trim_dup(email)))) {
		field = "email";
		message = "email must be a valid address of at most 254 characters";
	} else if (password == NULL || pwlen > PASSWORD_MAX ||
	           (with_name ? pwlen < PASSWORD_MIN : pwlen == 0)) {
		field = "password";
		message =
		    with_name ? "password must be 8 to 1024 characters" : "password is required";
	} else if (with_name) {
		job->name = name ? trim_dup(name) : NULL;
		size_t n = job->name ? jsonx_utf8_length(job->name) : 0;
		if (n == 0 || n > USER_NAME_MAX) {
			field = "name";
			message = "name must be 1 to 100 characters";
		}
	}
	if (message) {
		reply_error(&job->base.reply, 422, code, message, field);
		json_decref(body);
		call_job_finish(&job->base);
		return NULL;
	}
	job->password = strdup(password);
	json_decref(body);
	return job;
}

static bool valid_email(const char *email)
{
	size_t len = strlen(email);
	const char *at = strchr(email, '@');
	if (len < 3 || len > EMAIL_MAX || at == NULL || at == email || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL)
		return false;
	for (const char *p = email; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

static char *trim_dup(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

/* 24 characters of [a-zA-Z0-9]: about 143 bits. */
static void new_user_id(char out[USER_ID_LEN + 1])
{
	static const char alphabet[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	for (int i = 0; i < USER_ID_LEN; i++)
		out[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
	out[USER_ID_LEN] = '\0';
}

static void free_auth_job(struct call_job *base)
{
	struct auth_job *job = (struct auth_job *)base;
	json_decref(job->user);
	sodium_memzero(job->password_hash, sizeof job->password_hash);
	if (job->password)
		sodium_memzero(job->password, strlen(job->password));
	free(job->password);
	free(job->email);
	free(job->name);
}
