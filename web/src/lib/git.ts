/** Where a job's file can be edited on its Git host's website, from the repository's clone URL.
 * Hosts differ in their file URLs: GitHub and GitLab use /blob/<branch>/<path>, Gitea, Forgejo
 * and Codeberg /src/branch/<branch>/<path>, Bitbucket /src/<branch>/<path>. */
export function repositoryWebUrl(cloneUrl: string): string | null {
  let url: URL;
  const scp = /^[\w.-]+@([\w.-]+):(.+)$/.exec(cloneUrl); // git@github.com:org/repo.git
  try {
    url = scp ? new URL(`https://${scp[1]}/${scp[2]}`) : new URL(cloneUrl);
  } catch {
    return null;
  }
  if (!["https:", "http:", "ssh:"].includes(url.protocol)) return null;
  const path = url.pathname.replace(/\.git\/?$/, "").replace(/\/$/, "");
  if (!path || path === "/") return null;
  const scheme = url.protocol === "http:" ? "http:" : "https:";
  return `${scheme}//${url.hostname}${url.protocol === "ssh:" || !url.port ? "" : `:${url.port}`}${path}`;
}

export function fileWebUrl(cloneUrl: string, branch: string, folder: string, file: string): string | null {
  const web = repositoryWebUrl(cloneUrl);
  if (!web) return null;
  const host = new URL(web).hostname;
  const filePath = [folder.replace(/^\/+|\/+$/g, ""), file].filter(Boolean).map(encodePath).join("/");
  const ref = encodePath(branch);
  if (/gitea|forgejo|codeberg/i.test(host)) return `${web}/src/branch/${ref}/${filePath}`;
  if (/bitbucket/i.test(host)) return `${web}/src/${ref}/${filePath}`;
  return `${web}/blob/${ref}/${filePath}`;
}

function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}
