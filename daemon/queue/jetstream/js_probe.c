/*
 * js_probe.c - the write probe of the JetStream backend: whether the
 * servers take writes again after a failure.
 *
 * /readyz is ready only while writes succeed: a failed write sets the
 * queue's last_err and only a write that succeeds clears it (a read does
 * not). A node without traffic would write nothing and stay not ready (a
 * load balancer would then send it nothing), so while the queue is
 * failing, ops->idle publishes one small message every PROBE_MS to the
 * key "write-probe" of the outcome bucket (which nothing lists: records are
 * read by chunk key) and reports its result like a batch's. Only when
 * connected: a disconnected node fails at once, without a publish timeout
 * on the queue thread. Queue thread only.
 */
#include "js_int.h"

#include <stdio.h>

#define PROBE_MS 1000

int64_t gw_js_write_probe(gw_js *js)
{
    char subj[256], detail[384];
    jsPubOptions po;
    jsPubAck *pa = NULL;
    jsErrCode code = 0;
    natsStatus s;
    int err;
    int64_t mono = common_mono_ms();

    if (!gw_queue__failing(js->q))
        return -1;
    if (mono < js->probe_due)
        return js->probe_due - mono;
    js->probe_due = mono + PROBE_MS;
    err = gw_js_check_conn(js, "write probe", detail, sizeof(detail));
    if (err == 0) {
        snprintf(subj, sizeof(subj), "$KV.%s.write-probe", js->bucket[JS_OUT]);
        jsPubOptions_Init(&po);
        po.MaxWait = js->jo.op_timeout_ms;
        atomic_fetch_add(&js->op_pub, 1);
        s = js_Publish(&pa, js->js, subj, "1", 1, &po, &code);
        if (s == NATS_OK)
            jsPubAck_Destroy(pa);
        else
            err = gw_js_error(js, s, code, nats_GetLastError(NULL), "write probe", detail,
                              sizeof(detail));
    }
    gw_queue__result(js->q, err == 0, err == 0, gw_queue_err_unavailable(err) ? err : 0);
    return PROBE_MS;
}
