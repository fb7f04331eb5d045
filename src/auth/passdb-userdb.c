/* passdb-userdb.c - the users.db passdb of the authentication service
 * (auth-service.h): the crypt(3) hash is both the fingerprint (it
 * changes with every password change, a new salt each time) and what the
 * password is verified against. userdb_lookup_hash holds the database
 * mutex only for the one-row read; the hash is computed after it is
 * released.
 */
#include "auth-service.h"

static void userdb_lookup(const char *service, const char *user, struct auth_passdb_entry *out)
{
    (void)service;
    char hash[PASSWORD_HASH_MAX_LEN + 1];
    int r = userdb_lookup_hash(user, hash, sizeof(hash));
    switch (r) {
    case AUTH_OK:
        out->status = PASSDB_FOUND;
        snprintf(out->fingerprint, sizeof(out->fingerprint), "%s", hash);
        break;
    case AUTH_ERR_NOUSER:
        out->status = PASSDB_NOUSER;
        break;
    case AUTH_ERR_LOCKED:
        out->status = PASSDB_LOCKED;
        break;
    case AUTH_ERR_INVALID:
        /* a hash longer than any supported format: nobody can log in */
        out->status = PASSDB_LOCKED;
        break;
    default:
        out->status = PASSDB_TEMPFAIL;
        out->error = "users.db cannot be read";
        break;
    }
    explicit_bzero(hash, sizeof(hash));
}

static bool userdb_verify(const char *service, const char *user, const char *password,
                          const struct auth_passdb_entry *entry)
{
    (void)service;
    (void)user;
    if (entry->status != PASSDB_FOUND) {
        password_verify_dummy(password);
        return false;
    }
    return password_verify(password, entry->fingerprint);
}

const struct auth_passdb auth_passdb_userdb = {
    .name = "users.db",
    .lookup = userdb_lookup,
    .verify = userdb_verify,
};
