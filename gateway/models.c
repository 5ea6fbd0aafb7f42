/* gateway/models.c — GET /v1/models: what the presented key may use.
 * Config aliases, plus PROVIDER/MODEL names of the mock provider (whose
 * models are known); other providers' catalogues are not fetched. */
#include "gw.h"

#include <string.h>

static const char *const MOCK_MODELS[] = {"echo", "tools", "slow", "fail", "fail-429", NULL};

static void add(cJSON *data, const char *id, const char *owner)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", owner);
    cJSON_AddItemToArray(data, m);
}

void gw_models(gw_server *s, gw_conn *c, const char *key, const char *id)
{
    od_req r;
    od_req_init(&r, OD_KIND_LLM, "");
    if (pol_authenticate(s->pol, &r, key) < 0) {
        gw_send_error(c, GW_FRONT_OPENAI, &r, r.status, r.reason, r.message);
        od_req_free(&r);
        return;
    }
    cJSON *data = cJSON_CreateArray();
    const od_config *cfg = s->cfg;
    for (int i = 0; i < cfg->nmodels; i++)
        if (pol_allowed(s->pol, &r, OD_KIND_LLM, cfg->models[i].name))
            add(data, cfg->models[i].name, "odock");
    for (int i = 0; i < cfg->nproviders; i++) {
        const od_provider_cfg *p = &cfg->providers[i];
        if (strcmp(p->type, "mock") != 0)
            continue;
        for (int k = 0; MOCK_MODELS[k]; k++) {
            char name[256];
            snprintf(name, sizeof name, "%s/%s", p->name, MOCK_MODELS[k]);
            if (pol_allowed(s->pol, &r, OD_KIND_LLM, name))
                add(data, name, p->name);
        }
    }
    cJSON *out = NULL;
    if (id) {
        for (cJSON *m = data->child; m; m = m->next) {
            const cJSON *mid = od_jget(m, "id");
            if (cJSON_IsString(mid) && !strcmp(mid->valuestring, id)) {
                out = cJSON_DetachItemViaPointer(data, m);
                break;
            }
        }
        cJSON_Delete(data);
        if (!out) {
            char msg[300];
            snprintf(msg, sizeof msg, "model %s does not exist or is not granted to this key", id);
            gw_send_error(c, GW_FRONT_OPENAI, &r, 404, OD_R_MODEL_NOT_FOUND, msg);
            od_req_free(&r);
            return;
        }
    } else {
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "object", "list");
        cJSON_AddItemToObject(out, "data", data);
    }
    char *body = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    gw_conn_respond(c, 200, "application/json", body, strlen(body));
    free(body);
    od_req_free(&r);
}
