// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import "@openzeppelin/contracts/utils/math/Math.sol";

/// @title FixedRateExchange
/// @notice Sells an owner's datatokens for a base token at a fixed rate. The owner keeps the
/// datatokens and approves this contract to move them; a swap moves the base tokens from the
/// buyer to the owner and the datatokens from the owner to the buyer in one transaction.
contract FixedRateExchange {
    using SafeERC20 for IERC20;

    /// @dev `rate` is the price of one whole datatoken in base-token units, scaled by 1e18.
    struct Exchange {
        address owner;
        bool active;
        address dataToken;
        uint96 rate;
        address baseToken;
    }

    uint256 private constant ONE = 1e18;

    mapping(bytes32 => Exchange) private _exchanges;

    event ExchangeCreated(
        bytes32 indexed exchangeId,
        address indexed baseToken,
        address indexed dataToken,
        address owner,
        uint256 rate
    );
    event ExchangeRateChanged(bytes32 indexed exchangeId, uint256 rate);
    event ExchangeActiveChanged(bytes32 indexed exchangeId, bool active);
    event Swapped(bytes32 indexed exchangeId, address indexed buyer, uint256 baseTokenAmount, uint256 dataTokenAmount);

    modifier onlyOwner(bytes32 id) {
        require(_exchanges[id].owner == msg.sender, "FixedRateExchange: caller is not the owner");
        _;
    }

    function exchangeId(address baseToken, address dataToken, address owner) public pure returns (bytes32) {
        return keccak256(abi.encode(baseToken, dataToken, owner));
    }

    function create(address baseToken, address dataToken, uint256 rate) external returns (bytes32 id) {
        require(baseToken != address(0) && dataToken != address(0), "FixedRateExchange: zero token address");
        require(baseToken != dataToken, "FixedRateExchange: base token is the datatoken");
        _checkRate(rate);
        id = exchangeId(baseToken, dataToken, msg.sender);
        require(_exchanges[id].owner == address(0), "FixedRateExchange: exchange exists");
        _exchanges[id] = Exchange(msg.sender, true, dataToken, uint96(rate), baseToken);
        emit ExchangeCreated(id, baseToken, dataToken, msg.sender, rate);
    }

    function setRate(bytes32 id, uint256 rate) external onlyOwner(id) {
        _checkRate(rate);
        _exchanges[id].rate = uint96(rate);
        emit ExchangeRateChanged(id, rate);
    }

    function setActive(bytes32 id, bool active) external onlyOwner(id) {
        _exchanges[id].active = active;
        emit ExchangeActiveChanged(id, active);
    }

    function getExchange(bytes32 id)
        external
        view
        returns (address owner, address baseToken, address dataToken, uint256 rate, bool active)
    {
        Exchange storage ex = _exchanges[id];
        return (ex.owner, ex.baseToken, ex.dataToken, ex.rate, ex.active);
    }

    /// @notice Base tokens a buyer pays for `dataTokenAmount`, rounded up so the owner never
    /// receives less than the rate says.
    function calcBaseIn(bytes32 id, uint256 dataTokenAmount) public view returns (uint256) {
        Exchange storage ex = _exchanges[id];
        require(ex.owner != address(0), "FixedRateExchange: no such exchange");
        return Math.mulDiv(dataTokenAmount, ex.rate, ONE, Math.Rounding.Up);
    }

    /// @notice Buys `dataTokenAmount` datatokens, paying at most `maxBaseTokenAmount` (a guard
    /// against a rate change between quote and swap).
    function swap(bytes32 id, uint256 dataTokenAmount, uint256 maxBaseTokenAmount) external returns (uint256 baseIn) {
        Exchange storage ex = _exchanges[id];
        address owner = ex.owner;
        require(owner != address(0), "FixedRateExchange: no such exchange");
        require(ex.active, "FixedRateExchange: exchange is not active");
        require(dataTokenAmount != 0, "FixedRateExchange: amount is zero");
        baseIn = Math.mulDiv(dataTokenAmount, ex.rate, ONE, Math.Rounding.Up);
        require(baseIn <= maxBaseTokenAmount, "FixedRateExchange: price above maximum");
        emit Swapped(id, msg.sender, baseIn, dataTokenAmount); // before the calls out: no reentrancy window
        IERC20(ex.baseToken).safeTransferFrom(msg.sender, owner, baseIn);
        // By design: the datatokens come from the exchange's owner, who approved this contract
        // for them when creating the exchange; `owner` is the exchange's, never the caller's choice.
        // slither-disable-next-line arbitrary-send-erc20
        IERC20(ex.dataToken).safeTransferFrom(owner, msg.sender, dataTokenAmount);
    }

    function _checkRate(uint256 rate) private pure {
        require(rate != 0 && rate <= type(uint96).max, "FixedRateExchange: invalid rate");
    }
}
