/* The multipart receive loop (see frames.h). Cost: one zmq_msg_recv per frame, no copy. */
#include "proto/frames.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

static void release(zmq_msg_t *m, int wipe)
{
    if (wipe && zmq_msg_size(m))
        sodium_memzero(zmq_msg_data(m), zmq_msg_size(m));
    zmq_msg_close(m);
}

void refbus_frames_close(refbus_frames *fs)
{
    if (!fs)
        return;
    for (size_t i = 0; i < fs->n; i++)
        release(&fs->part[i], fs->wipe);
    fs->n = 0;
}

int refbus_frames_recv(refbus_frames *fs, void *sock, int flags, size_t max_frames, size_t max_size,
                       int wipe)
{
    int more = 1, big = 0;
    memset(fs, 0, sizeof *fs);
    fs->wipe = wipe;
    if (max_frames < 1 || max_frames > REFBUS_FRAMES_MAX)
        max_frames = REFBUS_FRAMES_MAX;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sock, fs->count == 0 ? flags : 0) < 0) {
            int e = errno;
            zmq_msg_close(&part);
            refbus_frames_close(fs);
            return fs->count == 0 && e == EAGAIN ? REFBUS_EAGAIN : REFBUS_ETRANSPORT;
        }
        more = zmq_msg_more(&part);
        fs->bytes += zmq_msg_size(&part);
        if (fs->n < max_frames) {
            big |= zmq_msg_size(&part) > max_size;
            zmq_msg_init(&fs->part[fs->n]);
            zmq_msg_move(&fs->part[fs->n++], &part);
        }
        release(&part, wipe); /* empty after a move */
        fs->count++;
    }
    return big ? REFBUS_ETOOLARGE : fs->count > max_frames ? REFBUS_EFRAMES : 0;
}

int refbus_frames_monitor_event(void *mon, uint16_t *event, uint32_t *value)
{
    refbus_frames fs;
    int rc = refbus_frames_recv(&fs, mon, ZMQ_DONTWAIT, 2, SIZE_MAX, 0);
    *event = 0;
    *value = 0;
    if (rc == REFBUS_EAGAIN || rc == REFBUS_ETRANSPORT)
        return rc;
    if (zmq_msg_size(&fs.part[0]) >= 6) {
        memcpy(event, zmq_msg_data(&fs.part[0]), 2);
        memcpy(value, (uint8_t *)zmq_msg_data(&fs.part[0]) + 2, 4);
    }
    refbus_frames_close(&fs);
    return 0;
}
