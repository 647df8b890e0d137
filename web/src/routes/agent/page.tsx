import { PageHeader, useTitle } from "../../components/PageHeader";


// Scaffold: this page is being built (issue 15, Web console II).
export function Component() {
  useTitle("Agent");
  return (
    <>
      <PageHeader title="Agent" />
      
    </>
  );
}
