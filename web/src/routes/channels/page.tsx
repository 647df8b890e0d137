import { PageHeader, useTitle } from "../../components/PageHeader";
import { ALERT_TABS, SectionTabs } from "../../components/SectionTabs";

// Scaffold: this page is being built (issue 15, Web console II).
export function Component() {
  useTitle("Channels");
  return (
    <>
      <PageHeader title="Channels" />
      <SectionTabs label="Alerts" tabs={ALERT_TABS} />
    </>
  );
}
