/*
 * js_submit.c - storing the jobs of one worker batch: every chunk message
 * of every job (pipelined, one wait), then every job header (the commit,
 * a create-if-absent on P_JOBS, pipelined, one wait). A job whose chunks
 * were not all stored gets no header: the nodes that fetch its stored
 * chunks wait for the header, and after the grace time settle it as
 * ABORTED and drop them (js_lease.c). A request of several jobs, or with
 * an idempotency key (a group), gets a third phase: its commit record,
 * written last (js_idem.c). The jobs of a pack (queue_pack.c) are one
 * chunk message in phase 1 and one header in phase 2; a request that is
 * one pack needs no third phase. See the design note in queue_jetstream.c.
 */
#include "js_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A job's publish-group slots: its chunks, then its header. */
typedef struct slots {
    size_t first, n; /* chunk messages */
    long header;     /* -1: not published */
    uint32_t per;    /* tokens per chunk of this job */
    size_t lead;     /* a packed job: the index in v of its pack's first member */
    size_t members;  /* a pack's first member: the pack's jobs (v[lead .. lead+members)) */
} slots;

/* Tokens per chunk of a job: [queue] chunk_tokens, fewer when its longest
 * token record would make a chunk exceed the servers' max_payload (FCM
 * registration tokens may be 4096 bytes: count bytes, not tokens). The job
 * header keeps it (gw_js_job.per), so status maps chunk seq -> first token
 * with the job's own value. */
static uint32_t job_per(const gw_js *js, const gw_queue_req *r, size_t max_payload)
{
    const gw_token_list *l = &r->u.submit.tokens;
    const gw_js_chunk_msg *f = &r->u.submit.f;
    uint32_t per = js->q->o.chunk_tokens;
    size_t pos = 0, longest = 1, fixed, tl;
    int raw;

    if (max_payload == 0)
        return per;
    for (size_t k = 0; k < l->count; k++) {
        size_t rl = gw_token_rec(l->buf + pos, &tl, &raw);
        longest = rl > longest ? rl : longest;
        pos += rl;
    }
    /* the chunk's other fields: strings, the payload and a margin */
    fixed = 1024 + f->payload_len + f->app_len + f->topic_len + f->collapse_len;
    if (fixed + 256 + longest >= max_payload)
        return 1; /* refused below with the sizes named */
    if ((max_payload - 256 - fixed) / longest < per)
        per = (uint32_t)((max_payload - 256 - fixed) / longest);
    return per > 0 ? per : 1;
}

static int publish_chunks(gw_js *js, gw_queue_req *r, int64_t now, size_t max_payload, slots *sl,
                          const char *group)
{
    const gw_token_list *l = &r->u.submit.tokens;
    uint32_t per = sl->per = job_per(js, r, max_payload);
    size_t pos = 0, done = 0, n = l->count;
    uint32_t n_chunks = (uint32_t)((n + per - 1) / per);
    gw_js_chunk_msg m = r->u.submit.f;

    m.send_at = m.send_at > 0 ? m.send_at : now;
    m.created = now;
    m.job_tokens = (uint32_t)n;
    m.n_chunks = n_chunks;
    m.group = group[0] != '\0' ? group : NULL;
    m.group_len = strlen(group);
    sl->n = 0;
    for (uint32_t seq = 0; done < n; seq++) {
        size_t start = pos, cnt = n - done < per ? n - done : per, len = 0;
        uint8_t *buf = NULL;
        char subj[96], id[GW_JOB_ID_LEN + 16];
        long slot;

        for (size_t k = 0; k < cnt; k++) {
            size_t tl;
            int raw;
            pos += gw_token_rec(l->buf + pos, &tl, &raw);
        }
        m.seq = seq;
        m.first = (uint32_t)done;
        m.n = (uint32_t)cnt;
        m.tokens = l->buf + start;
        m.tokens_len = pos - start;
        if (gw_js_chunk_encode(&m, &buf, &len) != 0) {
            snprintf(r->detail, sizeof(r->detail), "out of memory while storing a job");
            return APNS_ENOMEM;
        }
        if (max_payload > 0 && len + 256 > max_payload) {
            free(buf);
            snprintf(r->detail, sizeof(r->detail),
                     "queue jetstream %s: a chunk of %zu tokens is %zu bytes, more than the "
                     "servers' max_payload (%zu): lower [queue] chunk_tokens",
                     js->servers_text, cnt, len, max_payload);
            return APNS_EINVAL;
        }
        /* A job's first chunk goes to the subject leased first. */
        snprintf(subj, sizeof(subj), "%s.%zu", seq == 0 ? js->subj_first : js->subj_chunk, cnt);
        snprintf(id, sizeof(id), "%s.%u", r->u.submit.f.job_id, seq);
        slot = gw_js_pg_add(js, subj, buf, len, id, 0);
        free(buf);
        if (seq == 0)
            sl->first = slot >= 0 ? (size_t)slot : 0;
        if (slot < 0) {
            gw_js_error(js, NATS_ERR, 0, NULL, "submit (chunks)", r->detail, sizeof(r->detail));
            return (int)slot;
        }
        sl->n++;
        done += cnt;
    }
    return 0;
}

static int publish_header(gw_js *js, gw_queue_req *r, int64_t now, uint32_t per, const char *group,
                          long *slot)
{
    const gw_token_list *l = &r->u.submit.tokens;
    uint8_t *buf = NULL;
    size_t len = 0;
    char subj[160];
    gw_js_job j;

    memset(&j, 0, sizeof(j));
    j.state = JS_JOB_COMMITTED;
    memcpy(j.id, r->u.submit.f.job_id, sizeof(j.id));
    memcpy(j.apns_id, r->u.submit.f.apns_id, sizeof(j.apns_id));
    snprintf(j.app, sizeof(j.app), "%s", r->u.submit.f.app);
    if (r->u.submit.f.channel != NULL)
        snprintf(j.channel, sizeof(j.channel), "%s", r->u.submit.f.channel);
    snprintf(j.group, sizeof(j.group), "%s", group); /* a status asks its record */
    j.n = (uint32_t)l->count;
    j.n_chunks = (uint32_t)((l->count + per - 1) / per);
    j.per = per;
    j.created = now;
    j.send_at = r->u.submit.f.send_at > 0 ? r->u.submit.f.send_at : now;
    if (l->count <= js->q->o.small_job_tokens) {
        j.tokens = l->buf;
        j.tokens_len = l->len;
    }
    if (gw_js_job_encode(&j, &buf, &len) != 0) {
        snprintf(r->detail, sizeof(r->detail), "out of memory while storing a job");
        return APNS_ENOMEM;
    }
    snprintf(subj, sizeof(subj), "$KV.%s.%s", js->bucket[JS_JOBS], r->u.submit.f.job_id);
    *slot = gw_js_pg_add(js, subj, buf, len, NULL, JS_EXPECT_NONE);
    free(buf);
    if (*slot < 0) {
        gw_js_error(js, NATS_ERR, 0, NULL, "submit (commit)", r->detail, sizeof(r->detail));
        return (int)*slot;
    }
    return 0;
}

/* A packed job's request (a submit whose id carries the pack mark and
 * whose pack is pack); else 0. */
static int in_pack(const gw_queue_req *r, const char *pack)
{
    char p[GW_JOB_ID_LEN + 1];

    return r->kind == GW_QUEUE_REQ_SUBMIT && r->err == 0 &&
           gw_queue__pack_of(r->u.submit.f.job_id, p) >= 0 &&
           (pack == NULL || strcmp(p, pack) == 0);
}

/* One chunk message for the jobs v[0..k) of one pack (queue_pack.c): each
 * member a chunk of its own fields and tokens, all in one message on the
 * first chunks' subject, with Msg-Id "<pack>.0". */
static int publish_pack(gw_js *js, gw_queue_req **v, size_t k, int64_t now, size_t max_payload,
                        slots *sl, char (*group)[JS_GROUP_MAX + 1])
{
    gw_js_chunk_msg *m = calloc(k, sizeof(*m));
    char pack[GW_JOB_ID_LEN + 1], subj[96], id[GW_JOB_ID_LEN + 16];
    uint8_t *buf = NULL;
    size_t len = 0, total = 0;
    long slot;
    int rc;

    gw_queue__pack_of(v[0]->u.submit.f.job_id, pack);
    if (m == NULL) {
        snprintf(v[0]->detail, sizeof(v[0]->detail), "out of memory while storing a job");
        return APNS_ENOMEM;
    }
    for (size_t i = 0; i < k; i++) {
        const gw_token_list *l = &v[i]->u.submit.tokens;

        m[i] = v[i]->u.submit.f;
        m[i].send_at = m[i].send_at > 0 ? m[i].send_at : now;
        m[i].created = now;
        m[i].job_tokens = m[i].n = (uint32_t)l->count;
        m[i].n_chunks = 1;
        m[i].group = group[i];
        m[i].group_len = strlen(group[i]);
        /* The tokens travel once: in the pack's header (the lease reads
         * it for the commit), not in its message. */
        m[i].tokens = NULL;
        m[i].tokens_len = 0;
        total += l->count;
    }
    rc = gw_js_pack_encode(m, k, &buf, &len);
    free(m);
    if (rc != 0) {
        snprintf(v[0]->detail, sizeof(v[0]->detail), "out of memory while storing a job");
        return APNS_ENOMEM;
    }
    if (max_payload > 0 && len + 256 > max_payload) {
        free(buf);
        snprintf(v[0]->detail, sizeof(v[0]->detail),
                 "queue jetstream %s: a pack of %zu jobs is %zu bytes, more than the servers' "
                 "max_payload (%zu)",
                 js->servers_text, k, len, max_payload);
        return APNS_EINVAL;
    }
    snprintf(subj, sizeof(subj), "%s.%zu", js->subj_first, total);
    gw_js_pack_key(pack, id);
    slot = gw_js_pg_add(js, subj, buf, len, id, 0);
    free(buf);
    for (size_t i = 0; i < k; i++) {
        sl[i].first = slot >= 0 ? (size_t)slot : 0;
        sl[i].n = slot >= 0 ? 1 : 0;
        sl[i].per = (uint32_t)v[i]->u.submit.tokens.count;
    }
    if (slot < 0) {
        gw_js_error(js, NATS_ERR, 0, NULL, "submit (chunks)", v[0]->detail, sizeof(v[0]->detail));
        return (int)slot;
    }
    return 0;
}

/* The header of the pack of jobs v[0..k): the commit record of its jobs
 * (with their request's), each job's own header inside. */
static int publish_pack_header(gw_js *js, gw_queue_req **v, size_t k, int64_t now,
                               char (*group)[JS_GROUP_MAX + 1], long *slot)
{
    gw_js_job *j = calloc(k, sizeof(*j));
    char pack[GW_JOB_ID_LEN + 1], subj[160];
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    gw_queue__pack_of(v[0]->u.submit.f.job_id, pack);
    if (j == NULL) {
        snprintf(v[0]->detail, sizeof(v[0]->detail), "out of memory while storing a job");
        return APNS_ENOMEM;
    }
    for (size_t i = 0; i < k; i++) {
        const gw_queue_chunk_fields *f = &v[i]->u.submit.f;
        const gw_token_list *l = &v[i]->u.submit.tokens;

        j[i].state = JS_JOB_COMMITTED;
        memcpy(j[i].id, f->job_id, sizeof(j[i].id));
        memcpy(j[i].apns_id, f->apns_id, sizeof(j[i].apns_id));
        snprintf(j[i].app, sizeof(j[i].app), "%s", f->app);
        snprintf(j[i].group, sizeof(j[i].group), "%s", group[i]);
        j[i].n = j[i].per = (uint32_t)l->count;
        j[i].n_chunks = 1;
        j[i].created = now;
        j[i].send_at = f->send_at > 0 ? f->send_at : now;
        j[i].tokens = l->buf; /* every job's: its message has none (publish_pack) */
        j[i].tokens_len = l->len;
    }
    rc = gw_js_packhdr_encode(JS_JOB_COMMITTED, j, k, &buf, &len);
    free(j);
    if (rc != 0) {
        snprintf(v[0]->detail, sizeof(v[0]->detail), "out of memory while storing a job");
        return APNS_ENOMEM;
    }
    snprintf(subj, sizeof(subj), "$KV.%s.%s", js->bucket[JS_JOBS], pack);
    *slot = gw_js_pg_add(js, subj, buf, len, NULL, JS_EXPECT_NONE);
    free(buf);
    if (*slot < 0) {
        gw_js_error(js, NATS_ERR, 0, NULL, "submit (commit)", v[0]->detail, sizeof(v[0]->detail));
        return (int)*slot;
    }
    return 0;
}

/* Fails the members of the pack led by v[lead] after the first failed. */
static void pack_fail(gw_queue_req **v, const slots *sl, size_t lead)
{
    for (size_t i = lead + 1; i < lead + sl[lead].members; i++)
        gw_queue__fail(v[i], v[lead]->err, v[lead]->detail);
}

void gw_js_op_submit_batch(gw_js *js, gw_queue_req **v, size_t n)
{
    int64_t now = gw_queue__now(js->q);
    size_t max_payload = 0;
    slots *sl = calloc(n ? n : 1, sizeof(*sl));
    char(*group)[JS_GROUP_MAX + 1] = calloc(n ? n : 1, sizeof(*group));
    char detail[384];
    int err;

    err = gw_js_check_conn(js, "submit", detail, sizeof(detail));
    if (err == 0 && (sl == NULL || group == NULL)) {
        err = APNS_ENOMEM;
        snprintf(detail, sizeof(detail), "out of memory while storing jobs");
    }
    if (err != 0) {
        for (size_t i = 0; i < n; i++)
            gw_queue__fail(v[i], err, detail);
        goto out;
    }
    max_payload = (size_t)natsConnection_GetMaxPayload(js->nc);

    /* v also holds the idempotency answers of groups (their commit
     * records, phase 3). A member of a group that failed while posting
     * fails the group: nothing of it is stored. */
    gw_js_groups_fail(v, n);
    gw_js_groups_name(js, v, n, group);

    /* Phase 1: every chunk of every job; a pack's jobs in one message. */
    gw_js_pg_begin(js);
    for (size_t i = 0; i < n; i++) {
        int rc = 0;

        sl[i].lead = i;
        if (v[i]->err != 0 || v[i]->kind != GW_QUEUE_REQ_SUBMIT)
            continue;
        if (in_pack(v[i], NULL)) {
            char pack[GW_JOB_ID_LEN + 1];
            size_t k = 1;

            gw_queue__pack_of(v[i]->u.submit.f.job_id, pack);
            while (i + k < n && in_pack(v[i + k], pack))
                sl[i + k].lead = i, k++;
            sl[i].members = k;
            rc = publish_pack(js, v + i, k, now, max_payload, sl + i, group + i);
            if (rc != 0) {
                v[i]->err = rc;
                pack_fail(v, sl, i);
            }
            i += k - 1;
            continue;
        }
        rc = publish_chunks(js, v[i], now, max_payload, &sl[i], group[i]);
        if (rc != 0)
            v[i]->err = rc;
    }
    gw_js_pg_wait(js);
    for (size_t i = 0; i < n; i++) {
        gw_queue_req *r = v[i];
        for (size_t k = 0; k < sl[i].n && r->err == 0; k++) {
            const gw_js_pub *p = gw_js_pg_get(js, sl[i].first + k);
            if (p->st != NATS_OK)
                r->err = gw_js_error(js, p->st, p->code, p->text, "submit (chunks)", r->detail,
                                     sizeof(r->detail));
        }
    }

    gw_js_groups_fail(v, n);

    /* Phase 2: the commit records of the jobs whose chunks are all stored. */
    gw_js_pg_begin(js);
    for (size_t i = 0; i < n; i++)
        sl[i].header = -1;
    for (size_t i = 0; i < n; i++) {
        int rc;

        if (v[i]->err != 0 || v[i]->kind != GW_QUEUE_REQ_SUBMIT)
            continue;
        if (sl[i].members > 0) { /* a pack: one header for its jobs */
            size_t k = sl[i].members;
            rc = publish_pack_header(js, v + i, k, now, group + i, &sl[i].header);
            for (size_t x = i + 1; x < i + k; x++)
                sl[x].header = sl[i].header;
            if (rc != 0) {
                v[i]->err = rc;
                pack_fail(v, sl, i);
            }
            i += k - 1;
            continue;
        }
        rc = publish_header(js, v[i], now, sl[i].per, group[i], &sl[i].header);
        if (rc != 0)
            v[i]->err = rc;
    }
    gw_js_pg_wait(js);
    for (size_t i = 0; i < n; i++) {
        gw_queue_req *r = v[i];
        const gw_js_pub *p;

        if (r->err != 0 || sl[i].header < 0)
            continue;
        p = gw_js_pg_get(js, (size_t)sl[i].header);
        if (p->st == NATS_OK) {
            if ((r->u.submit.f.send_at > 0 ? r->u.submit.f.send_at : now) <= now)
                r->work = JS_WORK_FIRST | (sl[i].n > 1 ? JS_WORK_REST : 0);
        } else if (p->code == JSStreamWrongLastSequenceErr) {
            r->err = GW_QUEUE_EIO;
            snprintf(r->detail, sizeof(r->detail),
                     "queue jetstream %s: job %s took longer than the commit grace time and was "
                     "given up by another node during submit",
                     js->servers_text, r->u.submit.f.job_id);
        } else {
            r->err = gw_js_error(js, p->st, p->code, p->text, "submit (commit)", r->detail,
                                 sizeof(r->detail));
        }
    }
    /* Phase 3: the commit records of the requests that need one, last. */
    gw_js_groups_commit(js, v, n, group);
out:
    /* The depth: the front end settles each submit after the batch. */
    for (size_t i = 0; i < n; i++)
        if (v[i]->err != 0 && v[i]->err != GW_QUEUE_ENOTFOUND && v[i]->err != APNS_EINVAL)
            gw_queue__log(js->q, APNS_LOG_ERROR, "%s", v[i]->detail);
    free(sl);
    free(group);
}
