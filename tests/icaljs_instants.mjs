// UID -> UTC start of every VEVENT, as Mozilla's ical.js (Thunderbird's
// parser) computes it: the file's own VTIMEZONEs registered with
// ICAL.TimezoneService, then event.startDate.toJSDate().
// Usage: node tests/icaljs_instants.mjs [file.ics]   (stdin without a file)
import { readFileSync } from 'node:fs';
import ICAL from 'ical.js';

const text = readFileSync(process.argv[2] ?? 0, 'utf8');
const calendar = new ICAL.Component(ICAL.parse(text));
for (const vtimezone of calendar.getAllSubcomponents('vtimezone')) {
  ICAL.TimezoneService.register(new ICAL.Timezone(vtimezone));
}
const instants = {};
for (const vevent of calendar.getAllSubcomponents('vevent')) {
  const event = new ICAL.Event(vevent, { exceptions: [] });  // no scan of every sibling for exceptions
  instants[event.uid] = event.startDate.toJSDate().toISOString().replace('.000Z', 'Z');
}
process.stdout.write(JSON.stringify(instants));
