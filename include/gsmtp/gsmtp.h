/* gsmtp.h — the only header applications include. */
#pragma once

#define __GSMTP_H_INSIDE__

#include <gio/gio.h>
#include <gmime/gmime.h>

#include <gsmtp/gsmtp-version.h>
#include <gsmtp/gsmtp-visibility.h>
#include <gsmtp/gsmtp-error.h>
#include <gsmtp/gsmtp-reply.h>
#include <gsmtp/gsmtp-peer.h>
#include <gsmtp/gsmtp-envelope.h>
#include <gsmtp/gsmtp-stage.h>
#include <gsmtp/gsmtp-server.h>
#include <gsmtp/gsmtp-client.h>

#undef __GSMTP_H_INSIDE__
