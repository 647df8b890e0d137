import { PageHeader, useTitle } from "../../components/PageHeader";
import { SETTINGS_TABS, SectionTabs } from "../../components/SectionTabs";

// Scaffold: this page is being built (issue 15, Web console II).
export function Component() {
  useTitle("Status badges");
  return (
    <>
      <PageHeader title="Status badges" />
      <SectionTabs label="Settings" tabs={SETTINGS_TABS} />
    </>
  );
}
