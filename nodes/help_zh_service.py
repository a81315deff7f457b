"""The Chinese help (命令帮助) of the commands that keep a node running and safe: the agent, backup
to the data center (备份) and restore (恢复), the demo, the data wall and its logins, purge and
the systemd units. Looked up through nodes.help_zh."""

from __future__ import annotations

__all__ = ["COMMANDS", "OPTIONS"]

COMMANDS: dict[str, tuple[str, str]] = {
    "agent": (
        "运行本节点的定时任务直到停止：同步、报表、每日检查。",
        """\
运行本节点的定时任务，直到被停止：与上级同步，在报告期末生成报表，并在每天 03:30（北京时间）运行 'fiscalsync check --read-data'，其发现的问题在 'status' 中显示。

任务保存在节点数据库中；SIGTERM 或 Ctrl-C 在当前任务结束后停止 agent。一个节点目录上只能运行一个 agent。在省级，node.toml 指明 CA 目录（[revocation] ca）时，agent 还会在吊销列表有效期过半时重新发布它；--once 在到期时也会发布。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 agent
  fiscalsync --home /srv/fiscalsync/410102 agent --once
  fiscalsync --home /srv/fiscalsync/410102 agent --metrics-port 9470 --log-format json
  fiscalsync agent --homes /srv/fiscalsync --log-format json

给出 --homes 时，该目录下的每个节点目录都在这一个 agent 中运行：各有自己的数据库、密钥、任务、锁和工作线程，日志行注明所属节点；无法打开的节点目录记入日志并稍后重试，绝不影响其他节点。
""",
    ),
    "backup": (
        "把本节点备份到数据中心：快照和变更集日志，在本机加密。",
        """\
把本节点备份到数据中心（备份）：数据库快照和节点目录的变更集日志，在本机加密。

数据库快照和节点目录的变更集日志被切分为数据块；上次备份中没有的数据块经加密（AES-256-GCM，每次新生成的数据密钥分别用本节点的备份密钥和省级恢复密钥封装；SM2 网络中用 SM4-GCM 和 SM2 密钥封装）后上传到数据中心的存储位置；签名清单随下次同步发出。数据中心无法连通时，由后续同步轮次完成上传；写了一半的内容绝不会被列为备份。数据中心自己的备份送往省级。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 backup
  fiscalsync --home /srv/fiscalsync/410000-dc backup verify --read-data
""",
    ),
    "backup list": (
        "列出本节点为其他节点保管的备份（在数据中心或省级）。",
        """\
列出本节点为其他节点保管的备份（在数据中心或省级）。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000-dc backup list --node 410102
""",
    ),
    "backup verify": (
        "不用任何密钥检查此处保管的备份（类似 restic check）。",
        """\
不用任何密钥检查此处保管的备份（类似 restic check）。

检查清单的签名和链、每个对象是否存在及其大小，给出 --read-data 时还检查每个对象的 SHA-256；最近一次备份缺失或早于 [backup] max_age_hours 的节点会被列出。有任何问题时退出状态为 11。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000-dc backup verify --read-data
""",
    ),
    "backup prune": (
        "对此处保管的备份执行保留策略，删除不再需要的对象。",
        """\
对此处保管的备份执行保留策略（[backup] keep_daily、keep_monthly，以及每年的最后一份），并删除任何保留的备份都不需要的对象。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000-dc backup prune
""",
    ),
    "backup drill": (
        "恢复演练：备份、恢复到临时数据库并与在用数据库比对。",
        """\
做一次备份，从数据中心恢复到临时数据库，并与在用数据库逐表、按对账哈希摘要比对；报告恢复所用时间（恢复演练）。两者不一致时退出状态为 11。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 backup drill
""",
    ),
    "backup recovery-key": (
        "省级恢复密钥：每份备份也为它加密。",
        """\
省级恢复密钥：每份备份也都为它加密。

\b
示例：
  fiscalsync backup recovery-key new --ca /secure/ca --out /offline/recovery-kit.pem
  fiscalsync --home /srv/fiscalsync/410102 backup recovery-key install recovery.crt
""",
    ),
    "backup recovery-key new": (
        "（省级）生成恢复密钥：离线保管的恢复包和各节点安装的证书。",
        """\
（省级）生成恢复密钥：离线保管的恢复包（私钥、其证书、根证书），以及供每个节点安装的 CA/recovery.crt。

\b
示例：
  fiscalsync backup recovery-key new --ca /secure/ca --out /offline/recovery-kit.pem
""",
    ),
    "backup recovery-key install": (
        "检查后在本节点安装省级恢复证书。",
        """\
检查后在本节点安装省级恢复证书。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410102 backup recovery-key install recovery.crt
""",
    ),
    "restore": (
        "在新机器上从备份把节点恢复到 HOME。",
        """\
在新机器上从备份把节点恢复到 HOME（恢复）。

从数据中心取回该节点的清单，核验每个签名、链和对象哈希，用恢复包解密，并建立节点目录及其数据库；然后节点重新连接：向相关节点索取它丢失的内容，在每个节点答复之前不发送任何新内容（见 'status'）。HOME 必须是新目录或空目录。

\b
示例：
  fiscalsync restore /srv/fiscalsync/410102 --node 410102 --from 410000-dc \\
      --topology henan.toml --recovery-key /offline/recovery-kit.pem
  fiscalsync restore /srv/fiscalsync/410100 --node 410100 --topology henan.toml \\
      --recovery-key kit.pem --at '2026-11-20 18:00' \\
      --db-url postgresql://fiscal@db.local/fs_410100
""",
    ),
    "demo": (
        "在演示省份上运行本产品的主要流程（SQLite）。",
        """\
在演示省份上运行本产品的主要流程，使用 SQLite。

在 DIRECTORY（或一个新的临时目录）下创建演示省份（一个省、两个市、四个县，其中一个县为省直管，以及数据中心）。省级依据表格下达指标，各市向所辖县分解，县和市登记支出，各节点报送月报，数据中心进行汇总；每一步都以签名变更集传送，并有签名回执返回。它使用自己的日历（从 2026-11-02 开始），因此每次报送情况表都显示按时报送、一个迟报（孟津县）和一个未报（中牟县）。

\b
示例：
  fiscalsync demo
  fiscalsync demo /tmp/demo-province
  fiscalsync demo --suite sm2
  fiscalsync demo --lang en
""",
    ),
    "serve": (
        "提供本节点的数据墙（金财数据墙），只读。",
        """\
提供本节点的数据墙（金财数据墙），只读，数据来自本节点自己的数据库：全省每个节点的最近联络、通道滞后、隔离区、报表报送、对账、备份和资金合计，实时刷新；点击节点显示详情；'?lang=en' 显示英文。另有 /api/wall、/api/nodes/CODE（JSON）和 /metrics（Prometheus）。

给出 --homes 时（市级数据中心托管所辖县，市级集中部署），页面按各节点目录自己的数据墙显示每个托管的节点目录，各节点的数据墙在 /home/CODE/ 下，/api/homes 为 JSON，/metrics 按节点加标签；无法打开的节点目录会被指出并略去。每次请求前（最多每秒一次）重新扫描这些目录：新增的节点目录即被提供，移除的即被放开，无需重启。

默认只绑定 127.0.0.1；绑定其他地址时须同时启用 TLS（--tls-cert、--tls-key）和登录：--logins，或 --client-certs（省级 PKI 签发且未被吊销的任意证书，如节点证书；浏览器的 TLS 不支持 SM2 证书）。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000 serve --port 8470
  fiscalsync serve --homes /srv/fiscalsync --port 8471
  fiscalsync --home /srv/fiscalsync/410000 serve --host 0.0.0.0 \\
      --tls-cert wall.crt --tls-key wall.key --client-certs
  fiscalsync --home /srv/fiscalsync/410000-dc serve --host 0.0.0.0 \\
      --tls-cert wall.crt --tls-key wall.key --logins wall.logins
""",
    ),
    "serve-password": (
        "为 'serve' 的登录文件输出一行（口令用 scrypt 散列）。",
        """\
为 'serve' 的登录文件输出一行（口令用 scrypt 散列）。

\b
示例：
  fiscalsync serve-password wang >> /srv/fiscalsync/wall.logins
""",
    ),
    "purge": (
        "清理暂存目录中超过保留期的已确认或已答复的变更集文件和已关闭的隔离条目。",
        """\
清理暂存目录：确认（已发送）或答复（已接收）超过 [retention] days 的变更集文件（绝不早于备份保留期），以及已关闭的隔离条目。数据库中的记录保留，标为已清理；agent 每天执行一次。

\b
示例：
  fiscalsync --home /srv/fiscalsync/410000 purge --dry-run
  fiscalsync --home /srv/fiscalsync/410000 purge
""",
    ),
    "install-service": (
        "为本节点的 agent 和数据墙（serve）写出 systemd 单元。",
        """\
为本节点的 agent 和数据墙（serve）写出 systemd 单元：以 --user 运行，失败后重启，并加固（系统只读，只有节点目录可写，不授予新权限和能力）。然后：systemctl daemon-reload；systemctl enable --now 这些单元。

\b
示例：
  sudo fiscalsync --home /srv/fiscalsync/410102 install-service --user fiscalsync
  sudo systemctl daemon-reload
  sudo systemctl enable --now fiscalsync-agent-410102 fiscalsync-serve-410102
""",
    ),
}

OPTIONS: dict[tuple[str, str], str] = {
    ("agent", "--once"): "立即把每个任务运行一次后退出（用于 cron 和测试）。",
    ("agent", "--metrics-port"): "在 127.0.0.1 的此端口提供本节点的监控指标（Prometheus）。",
    ("agent", "--log-format"): "日志行为文本或 JSON，每行注明节点。",
    (
        "agent",
        "--homes",
    ): "在一个 agent 中运行此目录下（或此节点目录）的每个节点目录，代替 --home；可多次给出（市级集中部署：市级服务器托管所辖县）。",
    ("agent", "--retry-seconds"): "与 --homes 同用：无法打开的节点目录多久重试一次（秒）。",
    ("backup", "--full"): "重新上传每个数据块（不复用以前的备份）。",
    ("backup verify", "--node"): "只检查此节点的备份。",
    ("backup verify", "--read-data"): "同时读取每个对象并检查其哈希。",
    ("backup recovery-key new", "--ca"): "省级根 CA 目录。",
    ("backup recovery-key new", "--out"): "恢复包的存放位置（请离线保管）。",
    ("restore", "--node"): "要恢复的节点，如 410102。",
    ("restore", "--from"): "保管其备份的节点（默认：数据中心）。",
    ("restore", "--topology"): "省级拓扑（用于连接保管方）。",
    (
        "restore",
        "--at",
    ): "恢复到此时间：此时或之前的最近一次快照，再加上到此时为止的变更集日志。不带时区的时间按该节点自己的 [node] time_zone（取自其备份）。",
    ("restore", "--recovery-key"): "省级恢复包，或本节点自己的 keys/backup.key。",
    ("restore", "--ca-cert"): "根证书（密钥文件中没有时）。",
    ("restore", "--db-url"): "恢复到的新的空数据库（默认：HOME 中的 SQLite）。",
    ("restore", "--ssh-key"): "连接 sftp 保管方的 SSH 密钥。",
    ("serve", "--host"): "绑定的地址。",
    ("serve", "--tls-cert"): "TLS 证书（PEM）。",
    ("serve", "--tls-key"): "其私钥（PEM）。",
    ("serve", "--logins"): "HTTP 基本认证的用户和口令散列（fiscalsync serve-password）。",
    (
        "serve",
        "--client-certs",
    ): "用客户端证书登录（须启用 TLS）：省级根 CA 签发、且吊销列表（keys/crl.pem，启动时读取）未列出的证书。",
    (
        "serve",
        "--homes",
    ): "提供此目录下的每个节点目录（可多次给出），与 'agent --homes' 运行的相同：各节点的数据墙在 /home/CODE/ 下。",
    ("serve-password", "--password-stdin"): "从标准输入读取口令。",
    ("purge", "--dry-run"): "只说明会清理什么，不删除任何内容。",
    ("purge", "--json"): "以 JSON 输出。",
    ("install-service", "--dir"): "写出单元文件的目录。",
    ("install-service", "--user"): "运行这些单元的用户。",
    ("install-service", "--metrics-port"): "agent 的监控指标端口。",
}
