/** The next fire times of the schedule being typed, from the API (one cron engine: the server's). */
export function SchedulePreview(_: { schedule: string; timezone: string }) {
  return null;
}
