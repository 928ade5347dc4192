// JSON views of projection records for API replies.
//
// No view includes a recovery password, an envelope or a password hash.
// Times appear twice: "<name>_ns" (Unix nanoseconds) and "<name>" (RFC 3339 UTC).
//
// Thread safety: pure functions.
#pragma once

#include <boost/json.hpp>

#include "ledger/entry.h"
#include "projections/state.h"

namespace escrow::api {

// Returns {"reset_mode", "self_service_recovery", "rotate_after_retrieval",
// "check_in_interval_s", "min_os_version"}.
boost::json::object PolicyToJson(const projections::Policy& policy);
boost::json::object AccountToJson(const projections::AccountRecord& account);
boost::json::object DeviceToJson(const projections::DeviceRecord& device);
boost::json::object AuditRecordToJson(const projections::AuditRecord& record);
// ledger::EntryToJson plus the time in RFC 3339.
boost::json::object TimelineEntryToJson(const ledger::Entry& entry);

// Returns "active on the device" or "not yet active on the device" for a valid
// generation (armed or not), and "no valid recovery password" otherwise.
std::string_view PasswordStatus(bool generation_valid, bool armed);

// Returns records (AuditRecordToJson objects) as RFC 4180 CSV with a header
// row. A cell starting with = + - or @ gets a leading single quote, so a
// spreadsheet shows it as text instead of running it as a formula.
std::string AuditRecordsToCsv(const boost::json::array& records);

// Sets object[name + "_ns"] and object[name] for a Unix time in nanoseconds.
void PutTime(boost::json::object& object, std::string_view name, int64_t unix_ns);

}  // namespace escrow::api
