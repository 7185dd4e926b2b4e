/* The one receive loop for ZeroMQ multipart messages, for every socket refbus reads (the wire,
 * ZAP, admin and control requests, socket monitors): all frames of one message are taken off
 * the socket whatever they hold, so a message that is refused never leaves stray frames that
 * would be read as the start of the next one; at most a given number are kept, and frames over
 * a size limit are reported. */
#ifndef REFBUS_PROTO_FRAMES_H
#define REFBUS_PROTO_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "common/err.h"

#define REFBUS_FRAMES_MAX 8u /* frames one refbus_frames can keep (ZAP needs 7) */

/* One message. part[0..n-1] are libzmq's own frames (no copy); the struct owns them until
 * refbus_frames_close(). */
typedef struct refbus_frames {
    zmq_msg_t part[REFBUS_FRAMES_MAX];
    size_t n;     /* frames kept: the first min(count, max_frames) */
    size_t count; /* frames the message had */
    size_t bytes; /* their total size, dropped frames included */
    int wipe;     /* zero each frame before releasing it */
} refbus_frames;

/* Receive one whole message from `sock`: the first frame with `flags` (ZMQ_DONTWAIT, or 0 to
 * wait as the socket's ZMQ_RCVTIMEO says), the others as they are already there (libzmq hands a
 * message over whole). Keeps the first `max_frames` (1..REFBUS_FRAMES_MAX) frames; later ones
 * are received and released. `max_size`: the largest frame the caller takes. `wipe`: the frames
 * may hold plaintext (control requests and answers): every frame is zeroed before release.
 * Returns 0; REFBUS_EAGAIN (nothing waiting, or the receive timeout passed: nothing kept);
 * REFBUS_ETRANSPORT (receiving failed: nothing kept, the rest of the message is gone with the
 * socket's state); REFBUS_ETOOLARGE (a kept frame is over max_size); REFBUS_EFRAMES (more than
 * max_frames frames). On 0, ETOOLARGE and EFRAMES the frames are kept as they came, so that the
 * caller can still answer (a REP socket must) or name the peer (a ROUTER's routing id); release
 * them with refbus_frames_close(). */
int refbus_frames_recv(refbus_frames *fs, void *sock, int flags, size_t max_frames, size_t max_size,
                       int wipe) REFBUS_WUR;

/* One socket-monitor event, without waiting (libzmq 4.3: a frame of u16 event and u32 value,
 * then the endpoint; *event 0 when the first frame is shorter). Returns 0, REFBUS_EAGAIN (none
 * waiting) or REFBUS_ETRANSPORT. */
int refbus_frames_monitor_event(void *mon, uint16_t *event, uint32_t *value) REFBUS_WUR;

/* Release the kept frames (zeroed first when fs->wipe); fs may be closed twice. */
void refbus_frames_close(refbus_frames *fs);

#endif
