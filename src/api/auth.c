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

#define EMAIL_MAX 254
#define PASSWORD_MIN 8
#define PASSWORD_MAX 1024
#define USER_NAME_MAX 100
#define USER_ID_LEN 24

struct auth_job {
	struct call_job base;
	const struct app *app;
	char *email;
	char *password;
	char *name;
	char user_id[TOKEN_SUBJECT_MAX + 1];
};

static bool read_credentials(struct call *c, bool with_name, struct auth_job *job);
static bool valid_email(const char *email);
static char *trim_dup(const char *s);
static void new_user_id(char out[USER_ID_LEN + 1]);
static void reply_session(struct auth_job *job, int status, json_t *user);
static void free_auth_job(struct call_job *base);
static void run_sign_up(struct call_job *base, struct db_conn *conn);
static void run_sign_in(struct call_job *base, struct db_conn *conn);
static void run_me(struct call_job *base, struct db_conn *conn);

void api_sign_up(struct call *c)
{
	struct auth_job *job = call_job_new(sizeof *job);
	if (!read_credentials(c, true, job)) {
		free_auth_job(&job->base);
		free(job);
		return;
	}
	job->base.run = run_sign_up;
	call_submit(c, &job->base);
}

void api_sign_in(struct call *c)
{
	struct auth_job *job = call_job_new(sizeof *job);
	if (!read_credentials(c, false, job)) {
		free_auth_job(&job->base);
		free(job);
		return;
	}
	job->base.run = run_sign_in;
	call_submit(c, &job->base);
}

void api_me(struct call *c)
{
	if (!call_authenticate(c))
		return;
	struct auth_job *job = call_job_new(sizeof *job);
	job->base.cleanup = free_auth_job;
	snprintf(job->user_id, sizeof job->user_id, "%s", c->user_id);
	job->base.run = run_me;
	call_submit(c, &job->base);
}

static void run_sign_up(struct call_job *base, struct db_conn *conn)
{
	struct auth_job *job = (struct auth_job *)base;
	char hash[PASSWORD_HASH_MAX];
	if (!password_hash(job->password, hash)) {
		reply_error(&base->reply, 500, "internal_error", "internal error", NULL);
		return;
	}
	new_user_id(job->user_id);
	json_t *user = NULL;
	enum store_result res = users_insert(conn, job->user_id, job->email, job->name, hash, &user);
	if (res == STORE_CONFLICT)
		reply_error(&base->reply, 409, "email_taken", "an account with this email exists",
			    "email");
	else if (res != STORE_OK)
		api_reply_store_failure(&base->reply, res);
	else
		reply_session(job, 201, user);
}

static void run_sign_in(struct call_job *base, struct db_conn *conn)
{
	struct auth_job *job = (struct auth_job *)base;
	int locked_for = 0;
	enum store_result res = sign_in_lock_remaining(conn, job->email, &locked_for);
	if (res != STORE_OK) {
		api_reply_store_failure(&base->reply, res);
		return;
	}
	if (locked_for > 0) {
		reply_error(&base->reply, 429, "too_many_requests",
			    "too many failed sign-ins for this email; try again later", NULL);
		base->reply.retry_after = locked_for;
		return;
	}

	json_t *user = NULL;
	char *hash = NULL;
	res = users_find_by_email(conn, job->email, &user, &hash);
	if (res != STORE_OK && res != STORE_NOT_FOUND) {
		api_reply_store_failure(&base->reply, res);
		return;
	}
	bool ok;
	if (res == STORE_OK) {
		ok = password_verify(hash, job->password);
	} else {
		password_verify_dummy(job->password);
		ok = false;
	}
	free(hash);
	if (!ok) {
		json_decref(user);
		res = sign_in_record_failure(conn, job->email);
		if (res != STORE_OK)
			api_reply_store_failure(&base->reply, res);
		else
			reply_error(&base->reply, 401, "invalid_credentials",
				    "the email or password is wrong", NULL);
		return;
	}
	sign_in_clear(conn, job->email);
	snprintf(job->user_id, sizeof job->user_id, "%s",
		 json_string_value(json_object_get(user, "id")));
	reply_session(job, 200, user);
}

static void run_me(struct call_job *base, struct db_conn *conn)
{
	struct auth_job *job = (struct auth_job *)base;
	json_t *user = NULL;
	enum store_result res = users_get(conn, job->user_id, &user);
	if (res == STORE_NOT_FOUND)
		reply_error(&base->reply, 404, "not_found", "this user has no account here", NULL);
	else if (res != STORE_OK)
		api_reply_store_failure(&base->reply, res);
	else
		reply_json(&base->reply, 200, json_pack("{s:o}", "user", user));
}

static void reply_session(struct auth_job *job, int status, json_t *user)
{
	char *token = token_issue(&job->app->keys, job->user_id, time(NULL),
				  job->app->cfg->jwt_ttl_seconds);
	if (token == NULL) {
		json_decref(user);
		reply_error(&job->base.reply, 500, "internal_error", "internal error", NULL);
		return;
	}
	reply_json(&job->base.reply, status, json_pack("{s:o, s:s}", "user", user, "token", token));
	free(token);
}

static bool read_credentials(struct call *c, bool with_name, struct auth_job *job)
{
	json_t *body;
	job->app = c->app;
	job->base.cleanup = free_auth_job;
	if (!call_read_json(c, false, &body))
		return false;

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
	if (message) {
		/* set above */
	} else if (email == NULL || !valid_email((job->email = trim_dup(email)))) {
		field = "email";
		message = "email must be a valid address of at most 254 characters";
	} else if (password == NULL ||
		   (with_name && (strlen(password) < PASSWORD_MIN || strlen(password) > PASSWORD_MAX)) ||
		   (!with_name && (password[0] == '\0' || strlen(password) > PASSWORD_MAX))) {
		field = "password";
		message = with_name ? "password must be 8 to 1024 characters"
				    : "password is required";
	} else if (with_name) {
		job->name = name ? trim_dup(name) : NULL;
		size_t n = job->name ? jsonx_utf8_length(job->name) : 0;
		if (n == 0 || n > USER_NAME_MAX) {
			field = "name";
			message = "name must be 1 to 100 characters";
		}
	}
	if (message) {
		call_respond_error(c, 422, code, message, field);
		json_decref(body);
		return false;
	}
	job->password = strdup(password);
	json_decref(body);
	return true;
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
	if (job->password)
		sodium_memzero(job->password, strlen(job->password));
	free(job->password);
	free(job->email);
	free(job->name);
}
