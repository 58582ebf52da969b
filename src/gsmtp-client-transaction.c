/* gsmtp-client-transaction.c — one message over an open connection.
 * Owns: checking the message against the server's extensions before MAIL (SIZE,
 * 8BITMIME, BINARYMIME, SMTPUTF8, DSN, REQUIRETLS), MAIL and RCPT with their
 * parameters, pipelined when offered (RFC 2920), DATA with dot-stuffing or BDAT
 * (RFC 3030), the reply to the end of the data or, with LMTP, one per recipient
 * (RFC 2033 4.2), RSET after a refusal, and what every reply means for the
 * connection: 421 and anything unexpected drop it.
 * Not: opening the connection (gsmtp-client-connection.c), the wire form of the
 * data (gsmtp-dot-stuffer.c), queueing (gsmtp-client.c). */
#include "config.h"
#include "gsmtp-client-connection.h"
#include "gsmtp-client-params.h"
#include "gsmtp-address.h"

#include <string.h>

/* DATA: the progress signal's step, and how much is transformed at a time. */
#define DATA_CHUNK  (64 * 1024)
/* BDAT: each chunk waits for its 250; large chunks keep those round trips few. */
#define BDAT_CHUNK  (1024 * 1024)

struct _GSmtpClientMessage {
        char            *sender;        /* (owned): the reverse-path, checked; "" for <> */
        GPtrArray       *recipients;    /* (owned) (element-type utf8): checked, merged, NULL-terminated */
        GBytes          *bytes;         /* (owned) (nullable) */
        GInputStream    *stream;        /* (owned) (nullable) */
        GSmtpSendParams *params;        /* (owned) */
        GSmtpDataScan    scan;          /* of bytes */
        guint64          input_size;    /* of bytes; 0 for a stream */

        /* the transaction in progress; tx_start resets it */
        gboolean         pipelining;
        gboolean         chunking;      /* BDAT, not DATA */
        gboolean         binary;        /* BINARYMIME: the bytes go unchanged */
        gboolean         eight_bit_ok;  /* BODY=8BITMIME (or BINARYMIME) declared */
        gboolean         lmtp;
        gboolean         data_sent;     /* DATA went out (pipelined or alone) */
        guint            n_rcpt_sent;
        guint            next_rcpt;     /* replies read */
        GPtrArray       *accepted;      /* (owned) (element-type utf8): in RCPT order */
        GSmtpReply      *refusal;       /* (owned) (nullable): of MAIL or DATA, while draining */
        guint            lmtp_next;
        guint64          offset;        /* input consumed */
        guint8          *readbuf;       /* (owned) (nullable): stream reads */
        GSmtpDotStuffer  stuffer;
        GByteArray      *chunk;         /* (owned) (nullable): a BDAT chunk being made */
        gboolean         last_chunk;
};

static void tx_mail_reply (GSmtpClientOp *op);
static void tx_rcpt_replies (GSmtpClientOp *op);
static void tx_after_rcpts (GSmtpClientOp *op);
static void tx_send_data (GSmtpClientOp *op);
static void tx_final_reply (GSmtpClientOp *op);
static void tx_rset (GSmtpClientOp *op);

/* ---- the message, checked before anything is sent ---------------------------------- */

GSmtpClientMessage *
gsmtp_client_message_new (const char *sender, const char *const *recipients, GBytes *bytes,
                          GInputStream *stream, GSmtpSendOptions *options, GError **error)
{
        g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
        GSmtpClientMessage *msg = g_new0 (GSmtpClientMessage, 1);

        msg->recipients = g_ptr_array_new_with_free_func (g_free);
        if (!gsmtp_client_check_path ("sender", sender, TRUE, &msg->sender, error))
                goto fail;
        for (guint i = 0; recipients != NULL && recipients[i] != NULL; i++) {
                char *path = NULL;

                if (!gsmtp_client_check_path ("recipient", recipients[i], FALSE, &path, error))
                        goto fail;
                /* one RCPT per mailbox: To and Cc naming the same one is one delivery */
                if (!g_hash_table_add (seen, gsmtp_address_mailbox_key (path))) {
                        g_free (path);
                        continue;
                }
                g_ptr_array_add (msg->recipients, path);
        }
        if (msg->recipients->len == 0) {
                g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "No recipients");
                goto fail;
        }
        g_ptr_array_add (msg->recipients, NULL);
        msg->params = gsmtp_send_options_freeze (options, (const char *const *) msg->recipients->pdata);
        if (bytes != NULL) {
                gsize len;
                const guint8 *data = g_bytes_get_data (bytes, &len);

                msg->bytes = g_bytes_ref (bytes);
                msg->input_size = len;
                gsmtp_data_scan (data, len, &msg->scan);
                if (msg->params->body == GSMTP_BODY_7BIT && msg->scan.eight_bit) {
                        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                             "The body type is 7BIT but the data has 8-bit bytes");
                        goto fail;
                }
                if (msg->params->body != GSMTP_BODY_BINARYMIME && msg->params->body != GSMTP_BODY_AUTO &&
                    msg->scan.nul) {
                        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                             "The data holds a NUL byte: only a BINARYMIME body may");
                        goto fail;
                }
        } else {
                msg->stream = g_object_ref (stream);
        }
        return msg;
fail:
        gsmtp_client_message_free (msg);
        return NULL;
}

void
gsmtp_client_message_free (GSmtpClientMessage *msg)
{
        g_free (msg->sender);
        g_ptr_array_unref (msg->recipients);
        g_clear_pointer (&msg->bytes, g_bytes_unref);
        g_clear_object (&msg->stream);
        g_clear_pointer (&msg->params, gsmtp_send_params_free);
        g_clear_pointer (&msg->accepted, g_ptr_array_unref);
        g_clear_pointer (&msg->refusal, g_smtp_reply_unref);
        g_free (msg->readbuf);
        g_clear_pointer (&msg->chunk, g_byte_array_unref);
        g_free (msg);
}

static guint
msg_n_recipients (GSmtpClientMessage *msg)
{
        return msg->recipients->len - 1;
}

static gboolean
msg_needs_smtputf8 (GSmtpClientMessage *msg, const char **what)
{
        if (!gsmtp_client_is_ascii (msg->sender)) {
                *what = msg->sender;
                return TRUE;
        }
        for (guint i = 0; i < msg_n_recipients (msg); i++) {
                if (!gsmtp_client_is_ascii (msg->recipients->pdata[i])) {
                        *what = msg->recipients->pdata[i];
                        return TRUE;
                }
        }
        *what = "a parameter";
        return msg->params->needs_utf8;
}

/* Fails the operation, keeping the connection: nothing of this message was sent. */
static void
tx_refuse (GSmtpClientOp *op, GError *error)
{
        op->error = error;
        gsmtp_client_op_finish (op);
}

static gboolean
tx_not_supported (GSmtpClientOp *op, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
tx_not_supported (GSmtpClientOp *op, const char *format, ...)
{
        va_list args;
        g_autofree char *text = NULL;

        va_start (args, format);
        text = g_strdup_vprintf (format, args);
        va_end (args);
        tx_refuse (op, g_error_new_literal (GSMTP_ERROR, GSMTP_ERROR_NOT_SUPPORTED, text));
        return FALSE;
}

/* Everything the server's EHLO reply decides, before MAIL: what to declare, and
 * what this server cannot take (the send fails here, naming the extension, and
 * the connection stays usable). */
static gboolean
tx_check (GSmtpClientOp *op, GString *mail)
{
        GSmtpClientMessage *msg = op->msg;
        GSmtpClientConnection *conn = op->conn;
        GSmtpBodyType body = msg->params->body;
        const char *utf8_what = NULL;
        gboolean smtputf8 = FALSE;
        guint64 size = 0;
        const char *body_param = NULL;

        if (msg_needs_smtputf8 (msg, &utf8_what)) {
                if (!(conn->ext & EXT_SMTPUTF8))
                        return tx_not_supported (op, "The server does not offer SMTPUTF8 (RFC 6531), needed "
                                                     "for the non-ASCII address %s", utf8_what);
                smtputf8 = TRUE;
        }
        /* RFC 6532: UTF-8 in the headers goes with SMTPUTF8 where the server has it */
        if (msg->scan.header_eight_bit && (conn->ext & EXT_SMTPUTF8))
                smtputf8 = TRUE;

        if (body == GSMTP_BODY_AUTO && msg->bytes != NULL)
                body = msg->scan.nul ? GSMTP_BODY_BINARYMIME
                                     : msg->scan.eight_bit ? GSMTP_BODY_8BITMIME : GSMTP_BODY_AUTO;
        switch (body) {
        case GSMTP_BODY_BINARYMIME:
                if ((conn->ext & (EXT_CHUNKING | EXT_BINARYMIME)) != (EXT_CHUNKING | EXT_BINARYMIME))
                        return tx_not_supported (op, "The message is binary%s but the server does not offer "
                                                     "BINARYMIME and CHUNKING (RFC 3030)",
                                                 msg->scan.nul ? " (it holds NUL bytes)" : "");
                body_param = "BINARYMIME";
                msg->binary = TRUE;
                break;
        case GSMTP_BODY_8BITMIME:
                /* RFC 6152 3: no 8-bit data to a server that did not offer 8BITMIME.
                 * Converting to quoted-printable would change a signed message. */
                if (!(conn->ext & EXT_8BITMIME))
                        return tx_not_supported (op, "The message has 8-bit data but the server does not "
                                                     "offer 8BITMIME (RFC 6152)");
                body_param = "8BITMIME";
                break;
        case GSMTP_BODY_7BIT:
                if (conn->ext & EXT_8BITMIME)
                        body_param = "7BIT";
                break;
        case GSMTP_BODY_AUTO:
                /* a stream is not measured first: declared 8-bit where that is
                 * allowed; an 8-bit byte found on the way elsewhere stops the send */
                if (msg->stream != NULL && (conn->ext & EXT_8BITMIME))
                        body_param = "8BITMIME";
                break;
        }
        msg->eight_bit_ok = body_param != NULL && !g_str_equal (body_param, "7BIT");

        if (msg->params->dsn && !(conn->ext & EXT_DSN))
                return tx_not_supported (op, "The server does not offer DSN (RFC 3461), needed for the "
                                             "delivery notification options (NOTIFY, RET, ENVID, ORCPT)");
        if (msg->params->requiretls) {
                if (!conn->tls_active || conn->config->insecure)
                        return tx_not_supported (op, "REQUIRETLS needs a TLS connection with a verified "
                                                     "certificate (RFC 8689 4.1)");
                if (!(conn->ext & EXT_REQUIRETLS))
                        return tx_not_supported (op, "The server does not offer REQUIRETLS (RFC 8689)");
        }

        if (msg->bytes != NULL)
                size = msg->binary ? msg->input_size : msg->scan.size;
        /* RFC 1870 6: a message larger than the server's limit is not sent */
        if (size > 0 && (conn->ext & EXT_SIZE) && conn->size_limit > 0 && size > conn->size_limit) {
                tx_refuse (op, g_error_new (GSMTP_ERROR, GSMTP_ERROR_REJECTED,
                                            "The message (%" G_GUINT64_FORMAT " bytes) exceeds the server's "
                                            "limit of %" G_GUINT64_FORMAT " bytes", size, conn->size_limit));
                return FALSE;
        }

        g_string_append_printf (mail, "MAIL FROM:<%s>", msg->sender);
        /* RFC 1870 3: the size after CRLF conversion, without the dots added by
         * dot-stuffing nor the final "." line: exactly what the server stores */
        if (size > 0 && (conn->ext & EXT_SIZE))
                g_string_append_printf (mail, " SIZE=%" G_GUINT64_FORMAT, size);
        if (body_param != NULL)
                g_string_append_printf (mail, " BODY=%s", body_param);
        if (smtputf8)
                g_string_append (mail, " SMTPUTF8");
        g_string_append (mail, msg->params->mail_params);
        if (msg->bytes != NULL)
                gsmtp_send_result_set_size (op->result, size);
        return TRUE;
}

static void
tx_rcpt_command (GSmtpClientOp *op, guint i)
{
        GSmtpClientMessage *msg = op->msg;
        const char *rcpt = msg->recipients->pdata[i];
        const char *params = NULL;

        if (msg->params->rcpt_params != NULL) {
                g_autofree char *key = gsmtp_address_mailbox_key (rcpt);

                params = g_hash_table_lookup (msg->params->rcpt_params, key);
        }
        gsmtp_client_op_command (op, "RCPT TO:<%s>%s", rcpt, params != NULL ? params : "");
        msg->n_rcpt_sent = i + 1;
}

/* Starts (or after a lost reused connection, restarts) the transaction on the
 * operation's open connection. */
void
gsmtp_client_op_transaction (GSmtpClientOp *op)
{
        GSmtpClientMessage *msg = op->msg;
        GSmtpClientConnection *conn = op->conn;
        g_autoptr(GString) mail = g_string_new (NULL);

        g_clear_object (&op->result);
        op->result = gsmtp_send_result_new ();
        msg->binary = FALSE;
        msg->data_sent = FALSE;
        msg->n_rcpt_sent = 0;
        msg->next_rcpt = 0;
        msg->lmtp_next = 0;
        msg->offset = 0;
        msg->last_chunk = FALSE;
        g_clear_pointer (&msg->refusal, g_smtp_reply_unref);
        g_clear_pointer (&msg->accepted, g_ptr_array_unref);
        msg->accepted = g_ptr_array_new_with_free_func (g_free);
        msg->lmtp = conn->config->lmtp;
        /* RFC 2033 4.2: an LMTP server supports PIPELINING */
        msg->pipelining = (conn->ext & EXT_PIPELINING) || msg->lmtp;
        msg->chunking = (conn->ext & EXT_CHUNKING) != 0;
        if (!tx_check (op, mail))
                return;
        gsmtp_client_op_command (op, "%s", mail->str);
        if (msg->pipelining) {
                /* RFC 2920 3.1: MAIL, every RCPT and DATA in one write */
                for (guint i = 0; i < msg_n_recipients (msg); i++)
                        tx_rcpt_command (op, i);
                if (!msg->chunking) {
                        gsmtp_client_op_command (op, "DATA");
                        msg->data_sent = TRUE;
                }
        }
        op->reused = op->reused || conn->n_transactions > 0;
        op->may_retry = op->reused && !op->retried;
        op->doing = "waiting for the reply to MAIL";
        gsmtp_client_op_flush (op, NULL, NULL, tx_mail_reply);
}

/* ---- replies ------------------------------------------------------------------------ */

/* A reply no state allows (a 354 to MAIL, a 250 to DATA): the server and this
 * client disagree about where they are, so the connection goes. */
static void
tx_unexpected (GSmtpClientOp *op, GSmtpReply *reply, const char *to)
{
        g_autofree char *text = g_smtp_reply_to_string (reply);
        GError *error = g_error_new (GSMTP_ERROR, GSMTP_ERROR_PROTOCOL, "Unexpected reply to %s: %s", to, text);

        gsmtp_error_set_reply (error, reply);
        gsmtp_client_op_fail (op, error);
}

/* RFC 5321 3.8: 421, at any point, means the server is closing the connection. */
static void
tx_closing (GSmtpClientOp *op, GSmtpReply *reply, const char *to)
{
        g_autofree char *what = g_strdup_printf ("The server is closing the connection (reply to %s)", to);

        gsmtp_client_op_fail (op, gsmtp_client_reply_error (reply, what));
}

static void
tx_mail_reply (GSmtpClientOp *op)
{
        GSmtpClientMessage *msg = op->msg;
        GSmtpReply *reply = NULL;
        guint code;

        if (gsmtp_client_op_next_reply (op, tx_mail_reply, &reply) != REPLY_READY)
                return;
        code = g_smtp_reply_get_code (reply);
        if (code == 421 && op->may_retry) {
                /* a reused connection the server had given up on while idle */
                g_autofree char *text = g_smtp_reply_to_string (reply);

                gsmtp_client_op_fail (op, g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                                       "The server closed the idle connection: %s", text));
        } else if (code == 421) {
                op->may_retry = FALSE;
                tx_closing (op, reply, "MAIL");
        } else if (code / 100 == 2) {
                op->may_retry = FALSE;
                tx_rcpt_replies (op);
        } else if (code / 100 == 4 || code / 100 == 5) {
                op->may_retry = FALSE;
                /* pipelined RCPTs and DATA still get their replies (503): read
                 * them, then RSET */
                msg->refusal = g_smtp_reply_ref (reply);
                tx_rcpt_replies (op);
        } else {
                op->may_retry = FALSE;
                tx_unexpected (op, reply, "MAIL");
        }
        g_smtp_reply_unref (reply);
}

static void
tx_rcpt_replies (GSmtpClientOp *op)
{
        GSmtpClientMessage *msg = op->msg;

        while (msg->next_rcpt < msg_n_recipients (msg)) {
                const char *rcpt = msg->recipients->pdata[msg->next_rcpt];
                GSmtpReply *reply = NULL;
                guint code;

                if (msg->n_rcpt_sent == msg->next_rcpt) {
                        if (msg->refusal != NULL)
                                break;  /* MAIL refused, nothing pipelined: no RCPT at all */
                        tx_rcpt_command (op, msg->next_rcpt);
                        op->doing = "waiting for the reply to RCPT";
                        gsmtp_client_op_flush (op, NULL, NULL, tx_rcpt_replies);
                        return;
                }
                op->doing = "waiting for the reply to RCPT";
                if (gsmtp_client_op_next_reply (op, tx_rcpt_replies, &reply) != REPLY_READY)
                        return;
                code = g_smtp_reply_get_code (reply);
                msg->next_rcpt++;
                if (msg->refusal != NULL) {
                        /* draining after a refused MAIL */
                } else if (code == 421) {
                        /* this recipient and every one after it get the 421: retry them */
                        for (guint i = msg->next_rcpt - 1; i < msg_n_recipients (msg); i++)
                                gsmtp_send_result_add_recipient (op->result, msg->recipients->pdata[i], reply);
                        tx_closing (op, reply, "RCPT");
                        g_smtp_reply_unref (reply);
                        return;
                } else if (code / 100 == 2 || code / 100 == 4 || code / 100 == 5) {
                        gsmtp_send_result_add_recipient (op->result, rcpt, reply);
                        if (code / 100 == 2)
                                g_ptr_array_add (msg->accepted, g_strdup (rcpt));
                } else {
                        tx_unexpected (op, reply, "RCPT");
                        g_smtp_reply_unref (reply);
                        return;
                }
                g_smtp_reply_unref (reply);
        }
        tx_after_rcpts (op);
}

static GError *
tx_all_refused_error (GSmtpClientOp *op)
{
        g_autoptr(GString) text = g_string_new ("Every recipient was refused: ");
        const char *const *rcpts = g_smtp_send_result_get_recipients (op->result);
        GSmtpReply *first = NULL;
        gboolean temporary = FALSE;
        GError *error;

        for (guint i = 0; rcpts[i] != NULL; i++) {
                GSmtpReply *reply = g_smtp_send_result_get_recipient_reply (op->result, rcpts[i]);
                g_autofree char *quoted = g_smtp_reply_to_string (reply);

                if (first == NULL)
                        first = reply;
                temporary |= g_smtp_reply_get_code (reply) / 100 == 4;
                g_string_append_printf (text, "%s%s (%s)", i > 0 ? "; " : "", rcpts[i], quoted);
        }
        /* TEMPORARY as long as one recipient may take it later: the result
         * (g_smtp_error_get_send_result) says which */
        error = g_error_new_literal (GSMTP_ERROR, temporary ? GSMTP_ERROR_TEMPORARY : GSMTP_ERROR_REJECTED,
                                     text->str);
        if (first != NULL)
                gsmtp_error_set_reply (error, first);
        return error;
}

static void
tx_empty_data_reply (GSmtpClientOp *op)
{
        GSmtpReply *reply = NULL;

        if (gsmtp_client_op_next_reply (op, tx_empty_data_reply, &reply) != REPLY_READY)
                return;
        g_smtp_reply_unref (reply);
        tx_rset (op);
}

/* The reply to DATA (pipelined or not) when the transaction is already lost:
 * RFC 2920 3.1, a server that said 354 anyway gets an empty message ended at once. */
static void
tx_drain_data_reply (GSmtpClientOp *op)
{
        GSmtpReply *reply = NULL;

        op->doing = "waiting for the reply to DATA";
        if (gsmtp_client_op_next_reply (op, tx_drain_data_reply, &reply) != REPLY_READY)
                return;
        if (g_smtp_reply_get_code (reply) == 421) {
                tx_closing (op, reply, "DATA");
        } else if (g_smtp_reply_get_code (reply) == 354) {
                gsmtp_client_op_command (op, ".");
                gsmtp_client_op_flush (op, NULL, NULL, tx_empty_data_reply);
        } else {
                tx_rset (op);
        }
        g_smtp_reply_unref (reply);
}

static void
tx_data_reply (GSmtpClientOp *op)
{
        GSmtpReply *reply = NULL;
        guint code;

        op->doing = "waiting for the reply to DATA";
        if (gsmtp_client_op_next_reply (op, tx_data_reply, &reply) != REPLY_READY)
                return;
        code = g_smtp_reply_get_code (reply);
        if (code == 354) {
                tx_send_data (op);
        } else if (code == 421) {
                tx_closing (op, reply, "DATA");
        } else if (code / 100 == 4 || code / 100 == 5) {
                op->error = gsmtp_client_reply_error (reply, "DATA refused");
                tx_rset (op);
        } else {
                tx_unexpected (op, reply, "DATA");
        }
        g_smtp_reply_unref (reply);
}

static void
tx_after_rcpts (GSmtpClientOp *op)
{
        GSmtpClientMessage *msg = op->msg;

        if (msg->refusal != NULL) {
                op->error = gsmtp_client_reply_error (msg->refusal, "MAIL FROM refused");
                if (msg->data_sent)
                        tx_drain_data_reply (op);
                else
                        tx_rset (op);
                return;
        }
        if (msg->accepted->len == 0) {
                op->error = tx_all_refused_error (op);
                if (msg->data_sent)
                        tx_drain_data_reply (op);
                else
                        tx_rset (op);
                return;
        }
        if (msg->chunking) {
                tx_send_data (op);
        } else if (msg->data_sent) {
                tx_data_reply (op);
        } else {
                gsmtp_client_op_command (op, "DATA");
                msg->data_sent = TRUE;
                gsmtp_client_op_flush (op, NULL, NULL, tx_data_reply);
        }
}

/* ---- the data ----------------------------------------------------------------------- */

static void tx_data_written (GSmtpClientOp *op);
static void tx_bdat_reply (GSmtpClientOp *op);

static void
tx_abort_data (GSmtpClientOp *op, GError *error)
{
        /* half a message is on the wire: the server must never see its end */
        gsmtp_client_op_fail (op, error);
}

/* Checks a stream's bytes on their way: the body declared (or not) must hold. */
static gboolean
tx_stream_bytes_allowed (GSmtpClientOp *op, const guint8 *data, gsize len)
{
        GSmtpClientMessage *msg = op->msg;

        if (msg->binary)
                return TRUE;
        for (gsize i = 0; i < len; i++) {
                if (data[i] == '\0') {
                        tx_abort_data (op, g_error_new_literal (GSMTP_ERROR, GSMTP_ERROR_NOT_SUPPORTED,
                                "The message holds a NUL byte: it needs BINARYMIME (set the body type)"));
                        return FALSE;
                }
                if (data[i] >= 0x80 && !msg->eight_bit_ok) {
                        tx_abort_data (op, g_error_new_literal (GSMTP_ERROR, GSMTP_ERROR_NOT_SUPPORTED,
                                "The message has 8-bit data but the server does not offer 8BITMIME (RFC 6152)"));
                        return FALSE;
                }
        }
        return TRUE;
}

/* Appends the wire form of in[] to out (BINARYMIME: as it is). */
static void
tx_transform (GSmtpClientMessage *msg, const guint8 *in, gsize len, gboolean last, GByteArray *out)
{
        if (msg->binary) {
                g_byte_array_append (out, in, len);
                return;
        }
        gsmtp_dot_stuffer_feed (&msg->stuffer, in, len, out);
        if (last)
                gsmtp_dot_stuffer_finish (&msg->stuffer, out);
}

static void
tx_send_bdat (GSmtpClientOp *op, GBytes *zero_copy)
{
        GSmtpClientMessage *msg = op->msg;
        gsize len = zero_copy != NULL ? g_bytes_get_size (zero_copy) : msg->chunk->len;

        gsmtp_client_op_command (op, "BDAT %" G_GSIZE_FORMAT "%s", len, msg->last_chunk ? " LAST" : "");
        if (zero_copy == NULL)
                g_byte_array_append (op->conn->obuf, msg->chunk->data, msg->chunk->len);
        op->doing = "sending the message";
        gsmtp_client_op_flush (op, zero_copy, NULL, tx_data_written);
}

static void
tx_stream_read_done (GObject *source, GAsyncResult *res, gpointer data)
{
        GSmtpClientOp *op = data;
        GSmtpClientMessage *msg = op->msg;
        GByteArray *out = msg->chunking ? msg->chunk : op->conn->obuf;
        GError *error = NULL;
        gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, &error);

        if (n < 0) {
                g_prefix_error (&error, "Reading the message: ");
                tx_abort_data (op, error);
                return;
        }
        if (n > 0 && !tx_stream_bytes_allowed (op, msg->readbuf, n))
                return;
        msg->last_chunk = n == 0;
        if (msg->chunking)
                g_byte_array_set_size (msg->chunk, 0);
        tx_transform (msg, msg->readbuf, n, n == 0, out);
        msg->offset += n;
        if (msg->chunking) {
                tx_send_bdat (op, NULL);
                return;
        }
        op->doing = "sending the message";
        gsmtp_client_op_flush (op, NULL, NULL, tx_data_written);
}

static void
tx_send_data (GSmtpClientOp *op)
{
        GSmtpClientMessage *msg = op->msg;
        gsize step = msg->chunking ? BDAT_CHUNK : DATA_CHUNK;
        const guint8 *data;
        gsize len, n;
        gboolean whole;

        if (msg->offset == 0)
                gsmtp_dot_stuffer_init (&msg->stuffer, !msg->chunking);
        if (msg->stream != NULL) {
                if (msg->readbuf == NULL)
                        msg->readbuf = g_malloc (step);
                if (msg->chunking && msg->chunk == NULL)
                        msg->chunk = g_byte_array_sized_new (step + step / 8);
                if (gsmtp_client_op_check_cancelled (op))
                        return;
                g_input_stream_read_async (msg->stream, msg->readbuf, step, G_PRIORITY_DEFAULT, op->cancellable,
                                           tx_stream_read_done, op);
                return;
        }
        data = g_bytes_get_data (msg->bytes, &len);
        n = MIN (len - msg->offset, step);
        msg->last_chunk = msg->offset + n == len;
        /* bytes that need no change go out as they are, from the application's
         * buffer: no copy; the last piece and the "." in one write */
        whole = msg->binary || (msg->scan.canonical && (msg->chunking || msg->scan.n_dot_lines == 0));
        if (whole) {
                g_autoptr(GBytes) piece = g_bytes_new_from_bytes (msg->bytes, msg->offset, n);

                msg->offset += n;
                if (msg->chunking) {
                        tx_send_bdat (op, piece);
                        return;
                }
                op->doing = "sending the message";
                gsmtp_client_op_flush (op, piece, msg->last_chunk ? ".\r\n" : NULL, tx_data_written);
                return;
        }
        if (msg->chunking) {
                if (msg->chunk == NULL)
                        msg->chunk = g_byte_array_sized_new (step + step / 8);
                g_byte_array_set_size (msg->chunk, 0);
                tx_transform (msg, data + msg->offset, n, msg->last_chunk, msg->chunk);
                msg->offset += n;
                tx_send_bdat (op, NULL);
                return;
        }
        tx_transform (msg, data + msg->offset, n, msg->last_chunk, op->conn->obuf);
        msg->offset += n;
        op->doing = "sending the message";
        gsmtp_client_op_flush (op, NULL, NULL, tx_data_written);
}

static void
tx_data_written (GSmtpClientOp *op)
{
        GSmtpClientMessage *msg = op->msg;

        if (msg->offset > 0 || msg->last_chunk)
                gsmtp_client_emit_progress (op->client, msg->offset, msg->input_size);
        if (msg->last_chunk) {
                if (msg->stream != NULL)
                        gsmtp_send_result_set_size (op->result, 0);
                /* the server has the whole message: only its verdict counts now.
                 * Cancelling here would drop the connection with the message
                 * perhaps accepted, and an application would send it again */
                gsmtp_client_op_detach_cancellable (op);
                gsmtp_client_emit_sent (op->client);
                tx_final_reply (op);
                return;
        }
        if (msg->chunking) {
                tx_bdat_reply (op);
                return;
        }
        tx_send_data (op);
}

static void
tx_bdat_reply (GSmtpClientOp *op)
{
        GSmtpReply *reply = NULL;
        guint code;

        op->doing = "waiting for the reply to BDAT";
        if (gsmtp_client_op_next_reply (op, tx_bdat_reply, &reply) != REPLY_READY)
                return;
        code = g_smtp_reply_get_code (reply);
        if (code / 100 == 2) {
                tx_send_data (op);
        } else if (code == 421) {
                tx_closing (op, reply, "BDAT");
        } else if (code / 100 == 4 || code / 100 == 5) {
                /* RFC 3030 2: the chunks so far are discarded; RSET ends the transaction */
                op->error = gsmtp_client_reply_error (reply, "Message refused");
                tx_rset (op);
        } else {
                tx_unexpected (op, reply, "BDAT");
        }
        g_smtp_reply_unref (reply);
}

/* ---- the end ------------------------------------------------------------------------ */

/* The transaction ended with both sides in step, accepted or not.  A byte still
 * buffered now is a reply nobody asked for: the connection is out of step. */
static void
tx_end (GSmtpClientOp *op)
{
        GSmtpClientConnection *conn = op->conn;

        conn->n_transactions++;
        if (conn->inpos < conn->inbuf->len) {
                g_debug ("gsmtp client: %u unexpected bytes after a transaction; closing",
                         (guint) (conn->inbuf->len - conn->inpos));
                gsmtp_client_connection_drop (conn);
        }
        gsmtp_client_op_finish (op);
}

static void
tx_rset_reply (GSmtpClientOp *op)
{
        GSmtpReply *reply = NULL;

        op->doing = "waiting for the reply to RSET";
        if (gsmtp_client_op_next_reply (op, tx_rset_reply, &reply) != REPLY_READY)
                return;
        if (g_smtp_reply_get_code (reply) / 100 == 2) {
                tx_end (op);
        } else {
                /* the error of the transaction stays; the connection goes */
                gsmtp_client_connection_drop (op->conn);
                gsmtp_client_op_finish (op);
        }
        g_smtp_reply_unref (reply);
}

/* After a refusal (op->error is set): RSET, and the connection serves the next send. */
static void
tx_rset (GSmtpClientOp *op)
{
        gsmtp_client_op_command (op, "RSET");
        gsmtp_client_op_flush (op, NULL, NULL, tx_rset_reply);
}

static void
tx_lmtp_replies (GSmtpClientOp *op)
{
        GSmtpClientMessage *msg = op->msg;

        op->doing = "waiting for the replies to the end of the data";
        while (msg->lmtp_next < msg->accepted->len) {
                const char *rcpt = msg->accepted->pdata[msg->lmtp_next];
                GSmtpReply *reply = NULL;
                guint code;

                if (gsmtp_client_op_next_reply (op, tx_lmtp_replies, &reply) != REPLY_READY)
                        return;
                code = g_smtp_reply_get_code (reply);
                if (code / 100 != 2 && code / 100 != 4 && code / 100 != 5) {
                        tx_unexpected (op, reply, "the end of the data");
                        g_smtp_reply_unref (reply);
                        return;
                }
                if (msg->lmtp_next == 0)
                        gsmtp_send_result_set_reply (op->result, reply);
                if (code == 421) {
                        for (guint i = msg->lmtp_next; i < msg->accepted->len; i++)
                                gsmtp_send_result_add_recipient (op->result, msg->accepted->pdata[i], reply);
                        tx_closing (op, reply, "the end of the data");
                        g_smtp_reply_unref (reply);
                        return;
                }
                gsmtp_send_result_add_recipient (op->result, rcpt, reply);
                msg->lmtp_next++;
                g_smtp_reply_unref (reply);
        }
        if (gsmtp_send_result_count_refused (op->result) == msg_n_recipients (msg))
                op->error = tx_all_refused_error (op);
        tx_end (op);
}

static void
tx_final_reply (GSmtpClientOp *op)
{
        GSmtpReply *reply = NULL;
        guint code;

        if (op->msg->lmtp) {
                tx_lmtp_replies (op);
                return;
        }
        op->doing = "waiting for the reply to the end of the data";
        if (gsmtp_client_op_next_reply (op, tx_final_reply, &reply) != REPLY_READY)
                return;
        code = g_smtp_reply_get_code (reply);
        gsmtp_send_result_set_reply (op->result, reply);
        if (code / 100 == 2) {
                tx_end (op);
        } else if (code == 421) {
                tx_closing (op, reply, "the end of the data");
        } else if (code / 100 == 4 || code / 100 == 5) {
                op->error = gsmtp_client_reply_error (reply, "Message refused");
                tx_end (op);
        } else {
                tx_unexpected (op, reply, "the end of the data");
        }
        g_smtp_reply_unref (reply);
}
