// Package report turns central's stored data into files for people and
// authorities:
//
//   - usage reports: kWh and revenue of invoiced sessions per site, charge
//     point, cost centre, access code or user group (the code's group;
//     GroupPublic for sessions without a code) and per day, month or the
//     whole range, as CSV or XLSX (Summarize, WriteCSV, WriteXLSX);
//   - the BNetzA charging-point register (Ladesäulenregister, LSV §5): one
//     row per charging station with up to four points, each with its plug
//     types, power and the public key of its Eichrecht meter, in the
//     columns of the agency's template (WriteRegisterCSV, WriteRegisterXLSX);
//   - an S.A.F.E.-compatible export of a session's signed OCMF records: the
//     XML container the S.A.F.E. transparency software reads, one <value>
//     per record with the meter's public key (WriteSAFE).
//
// Energy is integer Wh and money integer minor units everywhere inside;
// they become decimal text ("12.345" kWh, "7.05" EUR) only in the writers,
// at the edge of the file. Nothing here reads a clock: ranges and "now"
// come from the caller.
//
// The HTTP handlers (Handler) serve the same files for central/api to
// mount behind its operator authentication.
package report
